package server

import "sync"

// Hub fans a run's events out to live subscribers (the SSE streams). A
// subscriber that falls behind loses events rather than slowing the run;
// it can read them back from the store by sequence number.
type Hub struct {
	mu   sync.Mutex
	subs map[int64]map[chan Event]struct{}
}

// NewHub returns an empty Hub.
func NewHub() *Hub { return &Hub{subs: map[int64]map[chan Event]struct{}{}} }

// AllRuns is the key to subscribe to every run's status changes (events
// of type "run", whose body is the run).
const AllRuns int64 = 0

// Subscribe returns a channel of run's events from now on, and a function
// that ends the subscription.
func (h *Hub) Subscribe(run int64) (<-chan Event, func()) {
	ch := make(chan Event, 256)
	h.mu.Lock()
	if h.subs[run] == nil {
		h.subs[run] = map[chan Event]struct{}{}
	}
	h.subs[run][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[run], ch)
		if len(h.subs[run]) == 0 {
			delete(h.subs, run)
		}
		h.mu.Unlock()
	}
}

// Publish hands ev to the subscribers of key.
func (h *Hub) Publish(key int64, ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[key] {
		select {
		case ch <- ev:
		default:
		}
	}
}
