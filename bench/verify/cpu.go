package main

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"time"
)

// cpuSample is a reading of the machine's and this process's CPU time
// (Linux /proc; zero elsewhere), to tell how much of a phase's CPU other
// processes took: on a shared machine a noisy neighbour shows up there, not
// as a slow keyward.
type cpuSample struct {
	ok      bool
	at      time.Time
	busy    float64 // seconds all CPUs spent not idle
	process float64 // seconds this process ran
}

// clockTick is USER_HZ, 100 on every Linux architecture Go supports.
const clockTick = 100.0

func readCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := bytes.Cut(stat, []byte{'\n'})
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return s
	}
	var busy float64
	for i, v := range f[1:] {
		n, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return s
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return s
	}
	// Fields after the command (which may contain spaces) in parentheses.
	i := bytes.LastIndexByte(self, ')')
	if i < 0 {
		return s
	}
	pf := bytes.Fields(self[i+1:])
	if len(pf) < 13 {
		return s
	}
	utime, err1 := strconv.ParseFloat(string(pf[11]), 64)
	stime, err2 := strconv.ParseFloat(string(pf[12]), 64)
	if err1 != nil || err2 != nil {
		return s
	}
	return cpuSample{ok: true, at: s.at, busy: busy / clockTick, process: (utime + stime) / clockTick}
}

// usage returns the share of the machine's CPU capacity this process and
// other processes used between two samples (−1 when unknown).
func cpuShares(a, b cpuSample) (self, others float64) {
	wall := b.at.Sub(a.at).Seconds() * float64(runtime.NumCPU())
	if !a.ok || !b.ok || wall <= 0 {
		return -1, -1
	}
	p := b.process - a.process
	return p / wall, max(0, (b.busy-a.busy)-p) / wall
}
