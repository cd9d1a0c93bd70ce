package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/bake-tool/bake/artifacts"
)

// failing wraps a registry so that its first n requests get status (or,
// with status 0, a dropped connection).
func failing(n int32, status int) func(http.Handler) http.Handler {
	var seen atomic.Int32
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if seen.Add(1) > n {
				h.ServeHTTP(w, r)
				return
			}
			if status == 0 {
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close()
				}
				return
			}
			http.Error(w, "unavailable", status)
		})
	}
}

type retries struct{ waits []time.Duration }

func (r *retries) retry(attempts int) Retry {
	return Retry{Attempts: attempts, Backoff: 10 * time.Millisecond, OnRetry: func(attempt, n int, err error, wait time.Duration) {
		if n != attempts || attempt != len(r.waits)+1 || err == nil {
			panic(fmt.Sprintf("OnRetry(%d, %d, %v)", attempt, n, err))
		}
		r.waits = append(r.waits, wait)
	}}
}

func TestPublishRetrying(t *testing.T) {
	ctx := ctxT(t)
	b := runManifest(t, genKey(t), twoRuns[0])
	for _, tc := range []struct {
		name   string
		wrap   func(http.Handler) http.Handler
		waits  []time.Duration
		errHas string
	}{
		{"503 twice, then up", failing(2, http.StatusServiceUnavailable), []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}, ""},
		{"429 once", failing(1, http.StatusTooManyRequests), []time.Duration{10 * time.Millisecond}, ""},
		{"connection dropped", failing(1, 0), []time.Duration{10 * time.Millisecond}, ""},
		{"down for good", failing(1000, http.StatusBadGateway), []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}, "4 attempts, the last: "},
		{"refused, not retried", failing(1000, http.StatusForbidden), nil, "refused the credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := openRepo(t, memRegistry(t, tc.wrap))
			var r retries
			v, err := repo.PublishRetrying(ctx, b, PublishOptions{}, r.retry(4))
			if fmt.Sprint(r.waits) != fmt.Sprint(tc.waits) {
				t.Errorf("waits %v, want %v", r.waits, tc.waits)
			}
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want it to say %q", err, tc.errHas)
				}
				return
			}
			if err != nil || !v.Published {
				t.Fatalf("= %+v, %v", v, err)
			}
			if got, _, err := repo.VersionBundle(ctx, v.Name); err != nil || string(got) != string(b) {
				t.Fatalf("the version after the retries: %v", err)
			}
		})
	}
}

func TestPublishRetryingNotOnRefusal(t *testing.T) {
	ctx := ctxT(t)
	repo := openRepo(t, memRegistry(t, nil))
	k := genKey(t)
	if _, err := repo.Publish(ctx, runManifest(t, k, twoRuns[0]), PublishOptions{Version: "v1"}); err != nil {
		t.Fatal(err)
	}
	var r retries
	_, err := repo.PublishRetrying(ctx, runManifest(t, k, twoRuns[1]), PublishOptions{Version: "v1"}, r.retry(4))
	if !errors.Is(err, ErrVersionExists) || len(r.waits) != 0 {
		t.Fatalf("publish over an existing version: err %v after %d retries, want ErrVersionExists at once", err, len(r.waits))
	}
}

func TestPublishRetryingStopsWithContext(t *testing.T) {
	repo := openRepo(t, memRegistry(t, failing(1000, http.StatusServiceUnavailable)))
	ctx, cancel := context.WithCancel(ctxT(t))
	retry := Retry{Attempts: 4, Backoff: time.Hour, OnRetry: func(int, int, error, time.Duration) { cancel() }}
	start := time.Now()
	_, err := repo.PublishRetrying(ctx, runManifest(t, genKey(t), twoRuns[0]), PublishOptions{}, retry)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "after 1 failed attempts") || time.Since(start) > time.Minute {
		t.Fatalf("cancelled during the wait: %v after %s", err, time.Since(start))
	}
}

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&transport.Error{StatusCode: 503}, true},
		{&transport.Error{StatusCode: 500}, true},
		{&transport.Error{StatusCode: 429}, true},
		{&transport.Error{StatusCode: 408}, true},
		{&transport.Error{StatusCode: 400}, false},
		{&transport.Error{StatusCode: 404}, false},
		{&url.Error{Op: "Put", URL: "http://r/v2/", Err: errors.New("connection refused")}, true},
		{fmt.Errorf("upload: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("x: %w", ErrVersionExists), false},
		{fmt.Errorf("x: %w", ErrAuth), false},
		{fmt.Errorf("x: %w", artifacts.ErrUnsigned), false},
		{fmt.Errorf("x: %w", context.Canceled), false},
		{errors.New("the bundle is not JSON"), false},
		{nil, false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
