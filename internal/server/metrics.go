package server

import (
	"io"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// durationBuckets are the upper bounds (seconds) of the run and build
// duration histograms: a docker build takes seconds, a qemu or AMI build
// an hour.
var durationBuckets = []float64{5, 15, 60, 300, 900, 1800, 3600, 7200, 14400}

// Metrics is what /metrics exposes, through prometheus/client_golang on a
// registry of its own: runs by status, runs finished and their durations
// per pipeline, build durations per builder, queue depth, runs going,
// webhook failures, build-cache hits and misses per step, and the Go
// runtime's and process's standard metrics.
type Metrics struct {
	reg             *prometheus.Registry
	runs            *prometheus.GaugeVec
	finished        *prometheus.CounterVec
	durations       *prometheus.HistogramVec
	builds          *prometheus.HistogramVec
	queue, running  prometheus.Gauge
	webhookFailures prometheus.Counter
	cacheSteps      *prometheus.CounterVec

	mu sync.Mutex // one scrape at a time: Write sets the gauges, then gathers
}

// NewMetrics returns metrics at zero.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bake_runs", Help: "Runs in the database by status."},
			[]string{"status"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bake_runs_finished_total",
			Help: "Runs finished since the server started, by pipeline and status."}, []string{"pipeline", "status"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bake_run_duration_seconds",
			Help: "How long runs took, by pipeline.", Buckets: durationBuckets}, []string{"pipeline"}),
		builds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bake_build_duration_seconds",
			Help: "How long builds took, by builder and status.", Buckets: durationBuckets}, []string{"builder", "status"}),
		queue:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "bake_queue_depth", Help: "Runs waiting for a slot."}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bake_runs_running", Help: "Runs going now."}),
		webhookFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "bake_webhook_failures_total",
			Help: "Webhook delivery attempts that failed."}),
		cacheSteps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bake_cache_steps_total",
			Help: "Provisioner steps of builds that used the build cache, by builder: result hit (reused from the cache) or miss (run)."}, []string{"builder", "result"}),
	}
	m.reg.MustRegister(m.runs, m.finished, m.durations, m.builds, m.queue, m.running, m.webhookFailures, m.cacheSteps,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range Statuses {
		m.runs.WithLabelValues(s)
	}
	return m
}

// RunFinished counts a run that ended in status after d.
func (m *Metrics) RunFinished(pipeline, status string, d time.Duration) {
	m.finished.WithLabelValues(pipeline, status).Inc()
	if d > 0 {
		m.durations.WithLabelValues(pipeline).Observe(d.Seconds())
	}
}

// BuildFinished records one build of a run, named as bake names builds
// ("type.name", or "build.type.name" in a named build block), that ended
// in status after seconds.
func (m *Metrics) BuildFinished(build, status string, seconds float64) {
	parts := strings.Split(build, ".")
	if len(parts) < 2 || seconds < 0 {
		return
	}
	m.builds.WithLabelValues(parts[len(parts)-2], status).Observe(seconds)
}

// CacheStep counts one step of a build that used the build cache, as the
// run manifest records it: status "reused" is a hit, "run" a miss; a step
// that did not run ("not-run") is neither.
func (m *Metrics) CacheStep(builder, status string) {
	switch status {
	case "reused":
		m.cacheSteps.WithLabelValues(builder, "hit").Inc()
	case "run":
		m.cacheSteps.WithLabelValues(builder, "miss").Inc()
	}
}

// WebhookFailed counts a failed webhook attempt.
func (m *Metrics) WebhookFailed() { m.webhookFailures.Inc() }

// ContentType is the media type Write writes.
var ContentType = string(expfmt.NewFormat(expfmt.TypeTextPlain))

// Write writes the metrics in Prometheus' text format; runs gives the
// stored runs by status, queued and running the runner's current numbers.
func (m *Metrics) Write(w io.Writer, runs map[string]int, queued, running int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range Statuses {
		m.runs.WithLabelValues(s).Set(float64(runs[s]))
	}
	m.queue.Set(float64(queued))
	m.running.Set(float64(running))
	mfs, err := m.reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}
