package main

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// serveInfo is what --serve-only prints for an outside load generator.
type serveInfo struct {
	Keyward       string     `json:"keyward"`
	Baseline      string     `json:"baseline"`
	ManagementKey string     `json:"management_key"`
	SampleToken   string     `json:"sample_token"`
	Keys          int        `json:"keys"`
	WrkScript     string     `json:"wrk_script"`
	Commands      []string   `json:"commands"`
	Seed          seedReport `json:"seed"`
	Start         startTimes `json:"start"`
}

// serveOnly prepares the store, starts both servers and waits for ctx
// (SIGINT), so wrk or hey can be pointed at both in the same session.
func (h *harness) serveOnly(ctx context.Context) error {
	if err := h.setup(); err != nil {
		return err
	}
	c := h.cfg
	fx, seed, err := h.prepare(ctx)
	if err != nil {
		return err
	}
	k, starts, err := h.startKeyward(ctx, c.keywardAdr, c.cacheSize)
	if err != nil {
		return err
	}
	defer k.close()
	b, err := h.startBaseline(c.baseAdr)
	if err != nil {
		return err
	}
	defer b.shutdown()
	m := newMix(&fx.tokens, c.keys, c.hotKeys, c.hitRatio, c.floodGood, c.perms)
	if err := sanity(ctx, m, newTarget("keyward", k.url, fx.mgmt, 1, true), newTarget("baseline", b.url, fx.mgmt, 1, false)); err != nil {
		return err
	}
	script, err := h.writeWrkScript(fx, m)
	if err != nil {
		return err
	}
	info := serveInfo{Keyward: k.url, Baseline: b.url, ManagementKey: fx.mgmt, SampleToken: fx.tokens.string(0),
		Keys: c.keys, WrkScript: script, Seed: seed, Start: starts}
	threads := min(runtime.NumCPU(), c.conns)
	secs := strconv.FormatFloat(c.duration.Seconds(), 'f', -1, 64) + "s"
	for _, base := range []string{b.url, k.url} {
		info.Commands = append(info.Commands, fmt.Sprintf("wrk -t%d -c%d -d%s --latency -s %s %s/v1/keys/verify", threads, c.conns, secs, shellQuote(script), base))
	}
	body := string(verifyBody(fx.tokens.at(0), m.perms))
	for _, base := range []string{b.url, k.url} {
		info.Commands = append(info.Commands, fmt.Sprintf("hey -z %s -c %d -m POST -T application/json -H %s -d %s %s/v1/keys/verify",
			secs, c.conns, shellQuote("Authorization: Bearer "+fx.mgmt), shellQuote(body), base))
	}
	if c.jsonOut {
		if err := json.NewEncoder(h.out).Encode(info); err != nil {
			return err
		}
	} else {
		p := func(format string, args ...any) { fmt.Fprintf(h.out, format+"\n", args...) }
		p("keyward:        %s   (%s, %s keys, started in %.1f ms)", k.url, seed.Store, count(fx.tokens.len()), starts.TotalMS)
		p("baseline:       %s   (same net/http stack and http.Server settings; decodes the body, answers {\"valid\":true,\"code\":\"VALID\"})", b.url)
		p("management key: %s   (keys:verify, keys:read; benchmark fixture)", fx.mgmt)
		p("sample token:   %s", info.SampleToken)
		p("")
		p("curl:  curl -s -H %s -H 'Content-Type: application/json' -d %s %s/v1/keys/verify",
			shellQuote("Authorization: Bearer "+fx.mgmt), shellQuote(body), k.url)
		p("")
		p("wrk script %s: %.0f%% of requests from %s hot keys, the rest from cold keys (random draws: may repeat)", script, c.hitRatio*100, count(c.hotKeys))
		p("run baseline and keyward alternately, e.g. three times each:")
		for _, cmd := range info.Commands {
			p("  %s", cmd)
		}
		p("")
		p("waiting for Ctrl-C (SIGINT)…")
	}
	<-ctx.Done()
	h.progressf("stopping")
	return nil
}

// writeWrkScript writes a Lua script for wrk and the token lists it reads:
// the hot set and up to 100,000 cold keys (benchmark data, mode 0600).
func (h *harness) writeWrkScript(fx *fixture, m *mix) (string, error) {
	dir, err := filepath.Abs(h.cfg.dataDir)
	if err != nil {
		return "", err
	}
	hot := make([]int, m.hot)
	for i := range hot {
		hot[i] = i
	}
	cold := make([]int, 0, min(len(m.cold), 100_000))
	for _, i := range m.cold[:cap(cold)] {
		cold = append(cold, int(i))
	}
	mrand.Shuffle(len(cold), func(i, j int) { cold[i], cold[j] = cold[j], cold[i] })
	hotPath, coldPath := filepath.Join(dir, "wrk-hot.tokens"), filepath.Join(dir, "wrk-cold.tokens")
	for path, idx := range map[string][]int{hotPath: hot, coldPath: cold} {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return "", err
		}
		err = writeTokenList(f, &fx.tokens, idx)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
	}
	perms := ""
	if m.perms != nil {
		perms = string(m.perms)
	}
	script := fmt.Sprintf(`-- keyward bench/verify: POST /v1/keys/verify for wrk (benchmark fixture).
-- %.0f%% of requests verify a key of the hot set, the rest a cold key.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"

local function load(path)
  local t = {}
  for line in io.lines(path) do t[#t + 1] = line end
  return t
end
local hot = load([==[%s]==])
local cold = load([==[%s]==])
local hit = %g
local perms = [==[%s]==]

function setup(thread)
  thread:set("seed", math.random(1, 2147483647))
end

function init(args)
  math.randomseed(seed or os.time())
end

function request()
  local t
  if #cold == 0 or math.random() < hit then
    t = hot[math.random(#hot)]
  else
    t = cold[math.random(#cold)]
  end
  return wrk.format(nil, nil, nil, '{"key":"' .. t .. '"' .. perms .. '}')
end
`, h.cfg.hitRatio*100, fx.mgmt, hotPath, coldPath, h.cfg.hitRatio, perms)
	path := filepath.Join(dir, "wrk-verify.lua")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		return "", err
	}
	return path, os.Chmod(path, 0o600)
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
