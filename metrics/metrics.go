// Package metrics exposes keyward's Prometheus metrics: verifications by
// code and their latency (observed on the hot path without allocating),
// and, read at scrape time from the service, the verification cache, the
// write-behind of usage, the rate-limit backend and the invalidation feed.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

var codes = []keyward.VerifyCode{
	keyward.VerifyNotFound, keyward.VerifyRevoked, keyward.VerifyDisabled, keyward.VerifyExpired, keyward.VerifyRotated,
	keyward.VerifyOwnerInactive, keyward.VerifyForbiddenIP, keyward.VerifyWrongProject, keyward.VerifyInsufficientPermissions,
	keyward.VerifyRateLimited, keyward.VerifyUsageExceeded, keyward.VerifyValid,
}

// Metrics is keyward's metrics registry. It implements service.Observer.
type Metrics struct {
	reg     *prometheus.Registry
	byCode  map[keyward.VerifyCode]prometheus.Counter
	latency prometheus.Histogram
	stats   func() service.Stats
	handler http.Handler
}

// New returns the registry with keyward's metrics and the Go runtime's.
// Call Watch with the service once it exists.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), byCode: map[keyward.VerifyCode]prometheus.Counter{}}
	verifications := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_verifications_total", Help: "Verifications answered, by code.",
	}, []string{"code"})
	for _, c := range codes {
		m.byCode[c] = verifications.WithLabelValues(string(c)) // resolved once: no lookup on the hot path
	}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "keyward_verify_duration_seconds", Help: "Time to verify a token in the service (cache hit or database read).",
		Buckets: []float64{1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 0.1, 1},
	})
	gauge := func(name, help string, f func(service.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(m.current()) })
	}
	counter := func(name, help string, f func(service.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(m.current()) })
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	m.reg.MustRegister(verifications, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gauge("keyward_cache_entries", "Tokens in the verification cache.", func(s service.Stats) float64 { return float64(s.CacheEntries) }),
		gauge("keyward_cache_miss_entries", "Unknown tokens remembered by the cache.", func(s service.Stats) float64 { return float64(s.CacheMisses) }),
		counter("keyward_cache_lookups_total", "Verification cache lookups.", func(s service.Stats) float64 { return float64(s.CacheLookups) }),
		counter("keyward_cache_hits_total", "Verification cache hits.", func(s service.Stats) float64 { return float64(s.CacheHits) }),
		counter("keyward_cache_miss_hits_total", "Lookups answered by a remembered unknown token.", func(s service.Stats) float64 { return float64(s.CacheMissHits) }),
		counter("keyward_cache_misses_total", "Verification cache lookups that read the database.", func(s service.Stats) float64 {
			return float64(s.CacheLookups - s.CacheHits - s.CacheMissHits)
		}),
		counter("keyward_cache_evictions_total", "Entries evicted from the verification cache.", func(s service.Stats) float64 { return float64(s.CacheEvictions) }),
		gauge("keyward_writebehind_queue_keys", "Keys in the last write-behind batch of usage.", func(s service.Stats) float64 { return float64(s.WriteBehindQueue) }),
		counter("keyward_writebehind_flush_errors_total", "Failed write-behind flushes (retried next interval).", func(s service.Stats) float64 { return float64(s.WriteBehindErrors) }),
		gauge("keyward_usage_waiting_buckets", "Usage bucket counts (key, outcome, minute) waiting in memory for the database.", func(s service.Stats) float64 { return float64(s.UsageWaiting) }),
		counter("keyward_usage_dropped_total", "Verifications not counted in usage buckets: the database refused them beyond the in-memory bound.", func(s service.Stats) float64 { return float64(s.UsageDropped) }),
		gauge("keyward_ratelimit_backend_configured", "1 when a shared rate-limit backend (Redis) is configured.", func(s service.Stats) float64 { return b(s.RateBackendConfigured) }),
		gauge("keyward_ratelimit_backend_fallback", "1 while the rate-limit backend is unreachable and limits hold per node.", func(s service.Stats) float64 { return b(s.RateBackendFallback) }),
		counter("keyward_ratelimit_backend_errors_total", "Failed calls to the rate-limit backend.", func(s service.Stats) float64 { return float64(s.RateBackendErrors) }),
		gauge("keyward_invalidation_feed_healthy", "1 while this node receives every change (on SQLite: the changes of other processes on the file).", func(s service.Stats) float64 { return b(s.FeedHealthy) }),
	)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// Watch lets the scrape-time metrics read the service.
func (m *Metrics) Watch(svc *service.Service) { m.stats = svc.Stats }

func (m *Metrics) current() service.Stats {
	if m.stats == nil {
		return service.Stats{}
	}
	return m.stats()
}

// Verified implements service.Observer.
func (m *Metrics) Verified(code keyward.VerifyCode, took time.Duration) {
	if c := m.byCode[code]; c != nil {
		c.Inc()
	}
	m.latency.Observe(took.Seconds())
}

// ServeHTTP serves the metrics in the Prometheus exposition format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }
