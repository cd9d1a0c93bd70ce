package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Webhook request headers.
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
	// body keyed with the webhook's secret.
	SignatureHeader = "X-Bake-Signature-256"
	// EventHeader names the event (run.failed, …).
	EventHeader = "X-Bake-Event"
	// IdempotencyHeader is the same on every attempt of one delivery, so
	// a receiver can drop a repeat (delivery is at least once).
	IdempotencyHeader = "Idempotency-Key"
)

// Sign returns the SignatureHeader value for body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// WebhookPayload is the JSON body of a webhook request.
type WebhookPayload struct {
	Event          string `json:"event"`
	IdempotencyKey string `json:"idempotency_key"`
	Run            *Run   `json:"run"`
	URL            string `json:"url,omitempty"` // the run's page, when the server knows its address
}

// Notifier delivers webhooks: each delivery is retried with exponential
// backoff until the receiver answers 2xx or the attempts run out; every
// attempt is recorded in the store.
type Notifier struct {
	Store    *Store
	Client   *http.Client
	Attempts int           // default 5
	Backoff  time.Duration // first wait; doubles each attempt (default 1s)
	BaseURL  string        // the dashboard's address, for links
	Logger   *slog.Logger
	Metrics  *Metrics

	wg sync.WaitGroup
}

// Notify sends event about run to every webhook of p that asked for it,
// in the background.
func (n *Notifier) Notify(ctx context.Context, p *Pipeline, run *Run, event string) {
	for _, w := range p.Webhooks {
		if !w.Wants(event) {
			continue
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.deliver(context.WithoutCancel(ctx), w, run, event)
		}()
	}
}

// Wait waits for deliveries in flight.
func (n *Notifier) Wait() { n.wg.Wait() }

func (n *Notifier) deliver(ctx context.Context, w Webhook, run *Run, event string) {
	attempts, backoff := n.Attempts, n.Backoff
	if attempts <= 0 {
		attempts = 5
	}
	if backoff <= 0 {
		backoff = time.Second
	}
	client := n.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	key := fmt.Sprintf("bake-run-%d-%s", run.ID, event)
	pl := WebhookPayload{Event: event, IdempotencyKey: key, Run: run}
	if n.BaseURL != "" {
		pl.URL = fmt.Sprintf("%s/runs/%d", n.BaseURL, run.ID)
	}
	body, _ := json.Marshal(pl)
	for i := 1; i <= attempts; i++ {
		d := Delivery{RunID: run.ID, URL: w.URL, Event: event, IdempotencyKey: key, Attempt: i}
		d.StatusCode, d.Error = n.post(ctx, client, w, event, key, body)
		if n.Store != nil {
			if err := n.Store.RecordDelivery(ctx, d); err != nil && n.Logger != nil {
				n.Logger.Error("record webhook delivery", "err", err)
			}
		}
		if d.Error == "" {
			return
		}
		if n.Metrics != nil {
			n.Metrics.WebhookFailed()
		}
		if i < attempts {
			time.Sleep(backoff)
			backoff *= 2
		}
	}
	if n.Logger != nil {
		n.Logger.Error("webhook not delivered", "url", w.URL, "event", event, "run", run.ID)
	}
}

// post makes one attempt; the error text is "" on a 2xx answer.
func (n *Notifier) post(ctx context.Context, c *http.Client, w Webhook, event, key string, body []byte) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bake-serve")
	req.Header.Set(EventHeader, event)
	req.Header.Set(IdempotencyHeader, key)
	if s := w.Secret.Reveal(); s != "" {
		req.Header.Set(SignatureHeader, Sign([]byte(s), body))
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64*1024))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Sprintf("receiver answered %s", resp.Status)
	}
	return resp.StatusCode, ""
}
