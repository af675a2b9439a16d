package ui

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// chart is a usage chart: stacked bars per bucket, one colour per
// outcome, drawn on the server as an inline SVG (no script, no inline
// style: colours come from the stylesheet, by outcome class).
type chart struct {
	ID      string
	Title   string
	Buckets []keyward.UsageBucket
	Step    time.Duration
}

// legend returns the outcomes the chart shows, in the stable order.
func (c chart) legend() []keyward.VerifyCode {
	seen := map[keyward.VerifyCode]bool{}
	for _, b := range c.Buckets {
		for o, n := range b.Outcomes {
			if n > 0 {
				seen[o] = true
			}
		}
	}
	var out []keyward.VerifyCode
	for _, o := range keyward.UsageOutcomes {
		if seen[o] {
			out = append(out, o)
		}
	}
	return out
}

// Chart geometry (SVG user units).
const chartW, chartH = 720, 200

// chartSVG renders c. Every bar has a <title> (its time and counts) for
// a screen reader and a hover; the figure has a text summary.
func chartSVG(c chart) template.HTML {
	var peak int64
	for _, b := range c.Buckets {
		peak = max(peak, b.Total)
	}
	var s strings.Builder
	fmt.Fprintf(&s, `<svg id="%s" class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title" preserveAspectRatio="none">`,
		template.HTMLEscapeString(c.ID), chartW, chartH, template.HTMLEscapeString(c.ID))
	fmt.Fprintf(&s, `<title id="%s-title">%s</title>`, template.HTMLEscapeString(c.ID), template.HTMLEscapeString(c.Title))
	fmt.Fprintf(&s, `<line class="axis" x1="0" y1="%d" x2="%d" y2="%d"/>`, chartH, chartW, chartH)
	n := len(c.Buckets)
	if n > 0 && peak > 0 {
		w := float64(chartW) / float64(n)
		gap := w * 0.15
		for i, b := range c.Buckets {
			if b.Total == 0 {
				continue
			}
			x := float64(i)*w + gap/2
			y := float64(chartH)
			s.WriteString(`<g>`)
			var tip strings.Builder
			tip.WriteString(b.Start.UTC().Format("2006-01-02 15:04 UTC"))
			for _, o := range keyward.UsageOutcomes {
				v := b.Outcomes[o]
				if v == 0 {
					continue
				}
				h := float64(v) / float64(peak) * float64(chartH-4)
				y -= h
				fmt.Fprintf(&s, `<rect class="o-%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, o, x, y, w-gap, h)
				fmt.Fprintf(&tip, ", %s %d", o, v)
			}
			fmt.Fprintf(&s, `<title>%s</title></g>`, template.HTMLEscapeString(tip.String()))
		}
	}
	// Text stays out of the drawing, which stretches to the page's width:
	// the time axis and the scale are HTML, readable at any width.
	s.WriteString(`</svg>`)
	if n > 0 {
		s.WriteString(`<div class="axis-labels" aria-hidden="true">`)
		for _, i := range []int{0, n / 2, n - 1} {
			fmt.Fprintf(&s, `<span>%s</span>`, bucketLabel(c.Buckets[i].Start, c.Step))
		}
		s.WriteString(`</div>`)
	}
	fmt.Fprintf(&s, `<p class="scale">Highest bar: %s verifications.</p><ul class="legend">`, itoa(peak))
	for _, o := range c.legend() {
		fmt.Fprintf(&s, `<li><span class="swatch o-%s" aria-hidden="true"></span>%s</li>`, o, o)
	}
	if peak == 0 {
		s.WriteString(`<li>No verifications in this range.</li>`)
	}
	s.WriteString(`</ul>`)
	return template.HTML(s.String())
}

func bucketLabel(t time.Time, step time.Duration) string {
	if step >= 24*time.Hour {
		return t.UTC().Format("Jan 2")
	}
	return t.UTC().Format("Jan 2 15:04")
}
