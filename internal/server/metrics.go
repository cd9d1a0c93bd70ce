package server

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// durationBuckets are the upper bounds (seconds) of the run duration
// histogram: a docker build takes seconds, a qemu or AMI build an hour.
var durationBuckets = []float64{5, 15, 60, 300, 900, 1800, 3600, 7200, 14400}

// Metrics counts what the server did since it started, for /metrics in
// Prometheus' text exposition format.
type Metrics struct {
	mu              sync.Mutex
	finished        map[[2]string]int // (pipeline, status) → runs
	durations       map[string]*histogram
	webhookFailures int
}

type histogram struct {
	counts []int // per bucket, cumulative at write time
	sum    float64
	n      int
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{finished: map[[2]string]int{}, durations: map[string]*histogram{}}
}

// RunFinished counts a run that ended in status after d.
func (m *Metrics) RunFinished(pipeline, status string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.finished[[2]string{pipeline, status}]++
	if d <= 0 {
		return
	}
	h := m.durations[pipeline]
	if h == nil {
		h = &histogram{counts: make([]int, len(durationBuckets))}
		m.durations[pipeline] = h
	}
	s := d.Seconds()
	for i, b := range durationBuckets {
		if s <= b {
			h.counts[i]++
		}
	}
	h.sum += s
	h.n++
}

// WebhookFailed counts a failed webhook attempt.
func (m *Metrics) WebhookFailed() {
	m.mu.Lock()
	m.webhookFailures++
	m.mu.Unlock()
}

// Write writes the metrics; runs gives the stored runs by status, queued
// and running the runner's current numbers.
func (m *Metrics) Write(w io.Writer, runs map[string]int, queued, running int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP bake_runs Runs in the database by status.")
	fmt.Fprintln(w, "# TYPE bake_runs gauge")
	for _, s := range Statuses {
		fmt.Fprintf(w, "bake_runs{status=%q} %d\n", s, runs[s])
	}
	fmt.Fprintln(w, "# HELP bake_runs_finished_total Runs finished since the server started, by pipeline and status.")
	fmt.Fprintln(w, "# TYPE bake_runs_finished_total counter")
	keys := make([][2]string, 0, len(m.finished))
	for k := range m.finished {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+"\x00"+keys[i][1] < keys[j][0]+"\x00"+keys[j][1] })
	for _, k := range keys {
		fmt.Fprintf(w, "bake_runs_finished_total{pipeline=%q,status=%q} %d\n", k[0], k[1], m.finished[k])
	}
	fmt.Fprintln(w, "# HELP bake_run_duration_seconds How long runs took, by pipeline.")
	fmt.Fprintln(w, "# TYPE bake_run_duration_seconds histogram")
	names := make([]string, 0, len(m.durations))
	for n := range m.durations {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h := m.durations[n]
		for i, b := range durationBuckets {
			fmt.Fprintf(w, "bake_run_duration_seconds_bucket{pipeline=%q,le=\"%g\"} %d\n", n, b, h.counts[i])
		}
		fmt.Fprintf(w, "bake_run_duration_seconds_bucket{pipeline=%q,le=\"+Inf\"} %d\n", n, h.n)
		fmt.Fprintf(w, "bake_run_duration_seconds_sum{pipeline=%q} %g\n", n, h.sum)
		fmt.Fprintf(w, "bake_run_duration_seconds_count{pipeline=%q} %d\n", n, h.n)
	}
	fmt.Fprintln(w, "# HELP bake_queue_depth Runs waiting for a slot.")
	fmt.Fprintln(w, "# TYPE bake_queue_depth gauge")
	fmt.Fprintf(w, "bake_queue_depth %d\n", queued)
	fmt.Fprintln(w, "# HELP bake_runs_running Runs going now.")
	fmt.Fprintln(w, "# TYPE bake_runs_running gauge")
	fmt.Fprintf(w, "bake_runs_running %d\n", running)
	fmt.Fprintln(w, "# HELP bake_webhook_failures_total Webhook delivery attempts that failed.")
	fmt.Fprintln(w, "# TYPE bake_webhook_failures_total counter")
	fmt.Fprintf(w, "bake_webhook_failures_total %d\n", m.webhookFailures)
}
