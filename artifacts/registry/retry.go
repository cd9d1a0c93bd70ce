package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/bake-tool/bake/artifacts"
)

// Retry says how PublishRetrying tries again.
type Retry struct {
	// Attempts is how many times to try in all; less than 1 means 1.
	Attempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each one.
	Backoff time.Duration
	// OnRetry, when set, hears of each failed attempt that is tried
	// again, before the wait.
	OnRetry func(attempt, attempts int, err error, wait time.Duration)
}

// DefaultRetry is how bake build -publish and bake serve publish: four
// attempts over 14 s of waits, enough for a registry restart.
var DefaultRetry = Retry{Attempts: 4, Backoff: 2 * time.Second}

// PublishRetrying is Publish, tried again after a failure that may pass:
// a registry that does not answer, drops the connection, or answers 5xx,
// 429 or 408. A refusal that would be the same the next time (an unsigned
// or badly signed manifest, a version that exists with other content, a
// login the registry denies) is returned at once, as is ctx's end. After
// the last attempt the error says how many there were.
func (r *Repo) PublishRetrying(ctx context.Context, bundle []byte, opts PublishOptions, retry Retry) (*Version, error) {
	attempts := max(retry.Attempts, 1)
	wait := retry.Backoff
	for attempt := 1; ; attempt++ {
		v, err := r.Publish(ctx, bundle, opts)
		if err == nil || ctx.Err() != nil || !Transient(err) {
			return v, err
		}
		if attempt >= attempts {
			if attempts == 1 {
				return nil, err
			}
			return nil, fmt.Errorf("%d attempts, the last: %w", attempt, err)
		}
		if retry.OnRetry != nil {
			retry.OnRetry(attempt, attempts, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (after %d failed attempts, the last: %w)", context.Cause(ctx), attempt, err)
		case <-t.C:
		}
		wait *= 2
	}
}

// Transient reports whether err, from an operation on a registry, may not
// happen again: the registry could not be reached or dropped the
// connection (a network error), or answered that it is unavailable, busy
// or slow (5xx, 429, 408). A refusal of the request itself is not.
func Transient(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, artifacts.ErrUnsigned), errors.Is(err, ErrBadSignature),
		errors.Is(err, ErrVersionExists), errors.Is(err, ErrAuth):
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests || te.StatusCode == http.StatusRequestTimeout
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
