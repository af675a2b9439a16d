package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram records latencies in nanoseconds with a bounded relative error,
// like an HDR histogram: values below 2^subBits are exact, larger ones fall
// into one of 2^subBits linear buckets per power of two (≤ 0.8% error).
// Recording is one index computation and one increment; a histogram belongs
// to one goroutine and is merged afterwards.
type histogram struct {
	counts [(64 - subBits + 1) << subBits]uint64
	n      uint64
	sum    float64
	min    uint64
	max    uint64
}

const subBits = 7

func newHistogram() *histogram { return &histogram{min: math.MaxUint64} }

func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v>>e is in [2^subBits, 2^(subBits+1))
	return (e+1)<<subBits + int(v>>e) - 1<<subBits
}

// bucketValue returns the middle of bucket i.
func bucketValue(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	e := i>>subBits - 1
	m := uint64(i&(1<<subBits-1) + 1<<subBits)
	return m<<e + (uint64(1)<<e)/2
}

func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// quantile returns the value below which a fraction q of the recorded
// values fall (the nearest-rank definition), 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	if rank >= h.n {
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			// The exact extremes are known; never report past them.
			return time.Duration(min(max(bucketValue(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// latency is a histogram summarised for the report, in milliseconds.
type latency struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func (h *histogram) summary() latency {
	if h.n == 0 {
		return latency{}
	}
	return latency{
		Count: h.n,
		Mean:  h.sum / float64(h.n) / 1e6,
		P50:   ms(h.quantile(0.50)),
		P90:   ms(h.quantile(0.90)),
		P99:   ms(h.quantile(0.99)),
		P999:  ms(h.quantile(0.999)),
		Max:   ms(time.Duration(h.max)),
	}
}
