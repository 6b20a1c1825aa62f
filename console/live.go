package console

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WithSampleEvery sets how often the Live page's sampler reads Metrics
// (default 10 s); the page keeps the last hour.
func WithSampleEvery(d time.Duration) Option {
	return optionFunc(func(c *config) { c.sampleEvery = d })
}

// Run samples the metrics for the Live page until ctx ends (nil then).
// Without Run the page still shows current values, sampled when it is
// asked, but no history while nobody looks. Without Metrics it returns at
// once.
func (s *Server) Run(ctx context.Context) error {
	if s.sampler == nil {
		return nil
	}
	return s.sampler.Run(ctx)
}

// newSampler builds the Live page's sampler when there are Metrics.
func (s *Server) newSampler() error {
	if s.deps.Metrics == nil {
		return nil
	}
	var opts []SamplerOption
	if s.cfg.sampleEvery != 0 {
		opts = append(opts, SampleEvery(s.cfg.sampleEvery))
	}
	sp, err := NewSampler(s.deps.Metrics, opts...)
	if err != nil {
		return err
	}
	s.sampler = sp
	return nil
}

func (s *Server) routesLive(mux *http.ServeMux) {
	mux.HandleFunc("GET "+prefix+"live", s.livePage)
	mux.HandleFunc("GET "+prefix+"live/data", s.liveData)
}

// liveView is the Live page's data, with each value formatted as the page
// shows it: the template and /ui/live/data (which console.js polls to
// update the page in place) carry the same cells.
type liveView struct {
	Configured bool
	Window     *Window
	Err        string
	Subjects   []liveRow
	Processors []liveRow
	// NoDeadLetters is true when no processor has a dead-letter depth.
	NoDeadLetters bool
	PollSeconds   int
}

// liveRow is one row: Key identifies it for the script, Cells by column.
type liveRow struct {
	Key   string            `json:"key"`
	Name  string            `json:"name"`
	Cells map[string]string `json:"cells"`
	Spark template.HTML     `json:"spark"`
}

func (s *Server) liveView(ctx context.Context) (*liveView, error) {
	v := &liveView{Configured: s.sampler != nil, PollSeconds: 5}
	if s.sampler == nil {
		return v, nil
	}
	w, err := s.sampler.Window(ctx)
	if err != nil {
		return nil, err
	}
	v.Window, v.Err = w, w.Err
	v.NoDeadLetters = true
	for _, sl := range w.Subjects {
		v.Subjects = append(v.Subjects, liveRow{
			Key:  "s:" + sl.Subject,
			Name: sl.Subject,
			Cells: map[string]string{
				"accepted": rate(sl.Accepted),
				"rejected": rate(sl.Rejected),
				"p99":      seconds(sl.P99),
			},
			Spark: sparkline(w.Span, line{sl.AccSerie, "acc"}, line{sl.RejSerie, "rej"}),
		})
	}
	for _, pl := range w.Processors {
		dead := "no dead-letter topic"
		if pl.DeadLetters != nil {
			dead = count(pl.DeadLetters)
			v.NoDeadLetters = false
		}
		v.Processors = append(v.Processors, liveRow{
			Key:  "p:" + pl.Processor,
			Name: pl.Processor,
			Cells: map[string]string{
				"backlog": count(pl.Backlog),
				"oldest":  seconds(pl.OldestAge),
				"dead":    dead,
			},
			Spark: sparkline(w.Span, line{pl.BacklogSer, "backlog"}, line{pl.DeadSer, "dead"}),
		})
	}
	return v, nil
}

func (s *Server) livePage(w http.ResponseWriter, r *http.Request) {
	v, err := s.liveView(r.Context())
	if err != nil {
		// The metrics could not be read even once: say so on the page.
		v = &liveView{Configured: true, Err: "The metrics could not be read: " + err.Error()}
	}
	s.page(w, r, http.StatusOK, "live", v)
}

func (s *Server) liveData(w http.ResponseWriter, r *http.Request) {
	v, err := s.liveView(r.Context())
	status := http.StatusOK
	var body any
	switch {
	case err != nil:
		status, body = http.StatusServiceUnavailable, map[string]string{"error": "the metrics could not be read: " + err.Error()}
	case !v.Configured:
		status, body = http.StatusNotFound, map[string]string{"error": errNoMetrics.Error()}
	default:
		body = struct {
			*Window
			Rows []liveRow `json:"rows"`
		}{v.Window, append(v.Subjects, v.Processors...)}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// rate is a per-second rate as the page shows it; "—" when not measured.
func rate(v *float64) string {
	if v == nil {
		return "—"
	}
	return trimFloat(*v) + "/s"
}

func count(v *float64) string {
	if v == nil {
		return "—"
	}
	return thousands(strconv.FormatInt(int64(math.Round(*v)), 10))
}

// seconds is a duration in the unit that reads best.
func seconds(v *float64) string {
	if v == nil {
		return "—"
	}
	d := time.Duration(*v * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return trimFloat(float64(d)/float64(time.Microsecond)) + " µs"
	case d < time.Second:
		return trimFloat(float64(d)/float64(time.Millisecond)) + " ms"
	case d < time.Minute:
		return trimFloat(d.Seconds()) + " s"
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
}

// trimFloat shows three significant digits at most, and no trailing zeros.
func trimFloat(f float64) string {
	switch a := math.Abs(f); {
	case a >= 100:
		return strconv.FormatFloat(math.Round(f), 'f', -1, 64)
	case a >= 10:
		return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
	default:
		return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
	}
}

// line is one series of a sparkline and its CSS class.
type line struct {
	values []float64
	class  string
}

// Sparkline size, in the SVG's own units (CSS scales it).
const sparkW, sparkH = 240.0, 36.0

// sparkline draws series as one inline SVG, sharing the y scale (0 at the
// bottom, the largest value at the top) and spread over the width in
// proportion to span (an hour fills it; a younger window fills less, from
// the right). It is built from numbers only, so it is safe HTML.
func sparkline(span float64, lines ...line) template.HTML {
	top := 0.0
	for _, l := range lines {
		for _, v := range l.values {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				top = max(top, v)
			}
		}
	}
	width := sparkW * min(span/time.Hour.Seconds(), 1)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="last hour">`, sparkW, sparkH, sparkW, sparkH)
	fmt.Fprintf(&b, `<line class="base" x1="0" y1="%g" x2="%g" y2="%g"/>`, sparkH-0.5, sparkW, sparkH-0.5)
	for _, l := range lines {
		if len(l.values) == 0 {
			continue
		}
		fmt.Fprintf(&b, `<polyline class="%s" fill="none" points="`, l.class)
		for i, v := range l.values {
			x := sparkW
			if len(l.values) > 1 {
				x = sparkW - width + width*float64(i)/float64(len(l.values)-1)
			}
			y := sparkH - 1
			if top > 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
				y = sparkH - 1 - (sparkH-2)*v/top
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x, y)
		}
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers and fixed class names only
}
