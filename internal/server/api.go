package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bake-tool/bake/artifacts/registry"
)

// openAPI is the OpenAPI document of the JSON API, served at
// /api/v1/openapi.json; TestOpenAPI checks the server's answers against it.
//
//go:embed openapi.json
var openAPI []byte

// Server is the HTTP side of `bake serve`: the JSON API under /api/v1, the
// dashboard, /healthz and /metrics.
type Server struct {
	cfg      *Config
	store    *Store
	hub      *Hub
	runner   *Runner
	metrics  *Metrics
	registry registry.Options
	log      *slog.Logger
	csrfKey  []byte
	mux      *http.ServeMux
	// ping is how often an idle event stream gets a comment line and
	// checks in the store whether its run has ended.
	ping time.Duration
}

// ServerOptions are the parts a Server is made of.
type ServerOptions struct {
	Config   *Config
	Store    *Store
	Hub      *Hub
	Runner   *Runner
	Metrics  *Metrics
	Registry registry.Options
	Logger   *slog.Logger
}

// NewServer returns the HTTP handler of the service.
func NewServer(o ServerOptions) *Server {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: o.Config, store: o.Store, hub: o.Hub, runner: o.Runner, metrics: o.Metrics, registry: o.Registry, log: o.Logger, csrfKey: key, mux: http.NewServeMux(), ping: 15 * time.Second}
	m := s.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	m.HandleFunc("GET /metrics", s.handleMetrics)

	m.HandleFunc("GET /api/v1/openapi.json", s.auth(RoleViewer, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	}))
	m.HandleFunc("GET /api/v1/pipelines", s.auth(RoleViewer, s.apiPipelines))
	m.HandleFunc("POST /api/v1/pipelines/{name}/runs", s.auth(RoleOperator, s.apiTrigger))
	m.HandleFunc("GET /api/v1/pipelines/{name}/channels", s.auth(RoleViewer, s.apiChannels))
	m.HandleFunc("GET /api/v1/pipelines/{name}/channels/{channel}", s.auth(RoleViewer, s.apiChannelHistory))
	m.HandleFunc("POST /api/v1/pipelines/{name}/channels/{channel}/promote", s.auth(RoleOperator, s.apiPromote))
	m.HandleFunc("POST /api/v1/pipelines/{name}/channels/{channel}/rollback", s.auth(RoleOperator, s.apiRollback))
	m.HandleFunc("GET /api/v1/runs", s.auth(RoleViewer, s.apiRuns))
	m.HandleFunc("GET /api/v1/runs/{id}", s.auth(RoleViewer, s.apiRun))
	m.HandleFunc("GET /api/v1/runs/{id}/events", s.auth(RoleViewer, s.apiEvents))
	m.HandleFunc("GET /api/v1/runs/{id}/events/stream", s.auth(RoleViewer, s.apiEventStream))
	m.HandleFunc("GET /api/v1/runs/{id}/artifacts", s.auth(RoleViewer, s.apiArtifacts))
	m.HandleFunc("GET /api/v1/runs/{id}/deliveries", s.auth(RoleViewer, s.apiDeliveries))
	m.HandleFunc("POST /api/v1/runs/{id}/cancel", s.auth(RoleOperator, s.apiCancel))
	m.HandleFunc("GET /api/v1/stream", s.auth(RoleViewer, s.apiRunStream))
	s.webRoutes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	s.mux.ServeHTTP(w, r)
}

// identity is who a request comes from.
type identity struct {
	name, role string
	// cookie is true when the token came from the dashboard's cookie:
	// a state-changing request then needs the CSRF token.
	cookie    bool
	tokenHash string
}

type ctxKey struct{}

func who(r *http.Request) identity {
	id, _ := r.Context().Value(ctxKey{}).(identity)
	return id
}

// HashToken returns the hex SHA-256 a token is stored as.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewToken returns a new random token.
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "bake_" + hex.EncodeToString(b)
}

const cookieName = "bake_token"

// authenticate finds the caller's token (Authorization: Bearer, or the
// dashboard cookie) and its role.
func (s *Server) authenticate(r *http.Request) (identity, bool) {
	var tok string
	var cookie bool
	if h := r.Header.Get("Authorization"); h != "" {
		t, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return identity{}, false
		}
		tok = strings.TrimSpace(t)
	} else if c, err := r.Cookie(cookieName); err == nil {
		tok, cookie = c.Value, true
	}
	if tok == "" {
		return identity{}, false
	}
	h := HashToken(tok)
	for _, t := range s.cfg.Server.Tokens {
		if subtle.ConstantTimeCompare([]byte(t.SHA256), []byte(h)) == 1 {
			return identity{name: t.Name, role: t.Role, cookie: cookie, tokenHash: h}, true
		}
	}
	name, role, err := s.store.TokenRole(r.Context(), h)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.log.Error("token lookup", "err", err)
		}
		return identity{}, false
	}
	return identity{name: name, role: role, cookie: cookie, tokenHash: h}, true
}

// auth wraps h: 401 without a valid token, 403 below role, and for a
// state-changing request authenticated by the cookie, 403 without the
// CSRF token.
func (s *Server) auth(role string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bake"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		if roleRank(id.role) < roleRank(role) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("token %q has role %s; this needs %s", id.name, id.role, role))
			return
		}
		if id.cookie && r.Method != http.MethodGet && r.Method != http.MethodHead && !s.csrfOK(r, id) {
			writeError(w, http.StatusForbidden, "missing or wrong CSRF token")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	}
}

// csrfToken is the CSRF token of the session whose token hashes to th.
func (s *Server) csrfToken(th string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(th))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) csrfOK(r *http.Request, id identity) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrfToken(id.tokenHash)))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Server.ProtectMetrics {
		if id, ok := s.authenticate(r); !ok || roleRank(id.role) < roleRank(RoleViewer) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bake"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
	}
	counts, err := s.store.StatusCounts(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "database: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", ContentType)
	if err := s.metrics.Write(w, counts, s.runner.QueueDepth(), s.runner.Running()); err != nil {
		s.log.Error("metrics", "err", err)
	}
}

// PipelineInfo is a pipeline as the API shows it.
type PipelineInfo struct {
	Name     string     `json:"name"`
	Template string     `json:"template"`
	Schedule string     `json:"schedule,omitempty"`
	Next     *time.Time `json:"next_run,omitempty"`
	Publish  string     `json:"publish,omitempty"`
	Promote  string     `json:"promote,omitempty"`
	LastRuns []*Run     `json:"last_runs"`
}

func (s *Server) pipelineInfos(ctx context.Context, last int) ([]PipelineInfo, error) {
	var out []PipelineInfo
	for _, p := range s.cfg.Pipelines {
		pi := PipelineInfo{Name: p.Name, Template: p.Template, Schedule: p.Schedule, Publish: p.Publish, Promote: p.Promote, LastRuns: []*Run{}}
		if p.Git != nil {
			pi.Template = p.Git.URL + "@" + p.Git.Ref + ":" + strings.TrimPrefix(p.Git.Subdir+"/"+p.Template, "/")
		}
		if t := p.Next(time.Now()); !t.IsZero() {
			pi.Next = &t
		}
		runs, err := s.store.Runs(ctx, p.Name, last)
		if err != nil {
			return nil, err
		}
		if runs != nil {
			pi.LastRuns = runs
		}
		out = append(out, pi)
	}
	return out, nil
}

func (s *Server) apiPipelines(w http.ResponseWriter, r *http.Request) {
	pis, err := s.pipelineInfos(r.Context(), 5)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, pis)
}

func (s *Server) apiTrigger(w http.ResponseWriter, r *http.Request) {
	run, err := s.runner.Trigger(r.Context(), r.PathValue("name"), "api:"+who(r).name)
	switch {
	case errors.Is(err, ErrUnknownPipeline):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrDraining):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		w.Header().Set("Location", fmt.Sprintf("/api/v1/runs/%d", run.ID))
		writeJSON(w, http.StatusCreated, run)
	}
}

func runID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no run %q", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) (*Run, bool) {
	id, ok := runID(w, r)
	if !ok {
		return nil, false
	}
	run, err := s.store.Run(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no run %d", id))
		return nil, false
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return nil, false
	}
	return run, true
}

func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if l, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && l > 0 && l <= 1000 {
		limit = l
	}
	runs, err := s.store.Runs(r.Context(), r.URL.Query().Get("pipeline"), limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if runs == nil {
		runs = []*Run{}
	}
	writeJSON(w, http.StatusOK, runs)
}

func (s *Server) apiRun(w http.ResponseWriter, r *http.Request) {
	if run, ok := s.getRun(w, r); ok {
		writeJSON(w, http.StatusOK, run)
	}
}

func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request) {
	run, ok := s.getRun(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit := 1000
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 && l <= 10000 {
		limit = l
	}
	var evs []Event
	var err error
	if q.Has("before") {
		// The page before: what the run page's "earlier lines" link loads.
		before, perr := strconv.Atoi(q.Get("before"))
		if perr != nil || before < 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("before=%q: want a sequence number (1 or more)", q.Get("before")))
			return
		}
		evs, err = s.store.EventsBefore(r.Context(), run.ID, before, limit)
	} else {
		after, _ := strconv.Atoi(q.Get("after"))
		evs, err = s.store.Events(r.Context(), run.ID, after, limit)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if evs == nil {
		evs = []Event{}
	}
	writeJSON(w, http.StatusOK, evs)
}

func (s *Server) apiArtifacts(w http.ResponseWriter, r *http.Request) {
	run, ok := s.getRun(w, r)
	if !ok {
		return
	}
	a, err := s.store.Artifacts(r.Context(), run.ID)
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("run %d (%s) recorded no artifacts: it wrote no run manifest", run.ID, run.Status))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) apiDeliveries(w http.ResponseWriter, r *http.Request) {
	run, ok := s.getRun(w, r)
	if !ok {
		return
	}
	ds, err := s.store.Deliveries(r.Context(), run.ID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if ds == nil {
		ds = []Delivery{}
	}
	writeJSON(w, http.StatusOK, ds)
}

func (s *Server) apiCancel(w http.ResponseWriter, r *http.Request) {
	run, ok := s.getRun(w, r)
	if !ok {
		return
	}
	going, err := s.runner.Cancel(r.Context(), run.ID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if !going {
		writeError(w, http.StatusConflict, fmt.Sprintf("run %d is %s: nothing to cancel", run.ID, run.Status))
		return
	}
	run, _ = s.store.Run(r.Context(), run.ID)
	writeJSON(w, http.StatusAccepted, run)
}

// sse writes one Server-Sent Event.
func sse(w http.ResponseWriter, ev Event) {
	data, _ := json.Marshal(ev)
	if ev.Seq > 0 {
		fmt.Fprintf(w, "id: %d\n", ev.Seq)
	}
	name := "event"
	if ev.Type == "run" {
		name = "run"
	}
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
}

// apiEventStream streams a run's events: the stored ones after
// Last-Event-ID (or ?after=), then live ones, until the run ends.
//
// The store is the source of truth and the hub only a hint: events of one
// run are published by two goroutines (the child's stdout and stderr), so
// they can reach the hub out of order, and a slow subscriber loses
// events. A live event that is not the next one by sequence number makes
// the stream read the gap back from the store; before the final "run"
// event it reads whatever is left (the runner stores a run's last event
// before it marks the run finished), so the end of the log is never lost.
func (s *Server) apiEventStream(w http.ResponseWriter, r *http.Request) {
	run, ok := s.getRun(w, r)
	if !ok {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	// ?after= is where the page's log ends; Last-Event-ID, sent by a
	// browser that reconnects, is further on and wins.
	after, _ := strconv.Atoi(r.URL.Query().Get("after"))
	if a, err := strconv.Atoi(r.Header.Get("Last-Event-ID")); err == nil && a > after {
		after = a
	}
	ctx := r.Context()
	live, unsub := s.hub.Subscribe(run.ID)
	defer unsub()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// catchUp sends the stored events after the last one sent.
	catchUp := func() bool {
		for {
			evs, err := s.store.Events(ctx, run.ID, after, 1000)
			if err != nil {
				return false
			}
			for _, ev := range evs {
				sse(w, ev)
				after = ev.Seq
			}
			if len(evs) < 1000 {
				return true
			}
		}
	}
	// finish sends what is left and the run's final state.
	finish := func(cur *Run) {
		if !catchUp() {
			return
		}
		body, _ := json.Marshal(cur)
		sse(w, Event{RunID: run.ID, Type: "run", Time: time.Now(), Body: body})
		fl.Flush()
	}
	if !catchUp() {
		return
	}
	cur, err := s.store.Run(ctx, run.ID)
	if err != nil {
		return
	}
	if cur.Finished() {
		finish(cur)
		return
	}
	body, _ := json.Marshal(cur)
	sse(w, Event{RunID: run.ID, Type: "run", Time: time.Now(), Body: body})
	fl.Flush()
	ping := time.NewTicker(s.ping)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			// The hub may have dropped the final "run" event: ask the store.
			if cur, err := s.store.Run(ctx, run.ID); err == nil && cur.Finished() {
				finish(cur)
				return
			}
			fmt.Fprint(w, ": ping\n\n")
			fl.Flush()
		case ev := <-live:
			switch {
			case ev.Type == "run":
				var st Run
				if json.Unmarshal(ev.Body, &st) == nil && st.Finished() {
					finish(&st)
					return
				}
				sse(w, ev)
			case ev.Seq <= after:
				continue // sent already, from the store
			case ev.Seq == after+1:
				sse(w, ev)
				after = ev.Seq
			default: // a gap: events published late or dropped
				if !catchUp() {
					return
				}
			}
			fl.Flush()
		}
	}
}

// apiRunStream streams every run's status changes (for the dashboard).
func (s *Server) apiRunStream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	live, unsub := s.hub.Subscribe(AllRuns)
	defer unsub()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": connected\n\n")
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			fl.Flush()
		case ev := <-live:
			sse(w, ev)
			fl.Flush()
		}
	}
}

func (s *Server) pipeline(w http.ResponseWriter, r *http.Request) (*Pipeline, bool) {
	p := s.cfg.Pipeline(r.PathValue("name"))
	if p == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no pipeline %q", r.PathValue("name")))
		return nil, false
	}
	return p, true
}

func (s *Server) apiChannels(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pipeline(w, r)
	if !ok {
		return
	}
	recs, err := Channels(r.Context(), p, s.registry)
	if err != nil {
		channelError(w, err)
		return
	}
	if recs == nil {
		recs = []*registry.Record{}
	}
	writeJSON(w, http.StatusOK, recs)
}

func (s *Server) apiChannelHistory(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pipeline(w, r)
	if !ok {
		return
	}
	recs, err := ChannelHistory(r.Context(), p, r.PathValue("channel"), s.registry)
	if err != nil {
		channelError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, recs)
}

// channelRequest is the body of promote and rollback.
type channelRequest struct {
	Version string `json:"version"`
	Reason  string `json:"reason"`
}

func (s *Server) apiPromote(w http.ResponseWriter, r *http.Request) {
	s.channelWrite(w, r, true)
}

func (s *Server) apiRollback(w http.ResponseWriter, r *http.Request) {
	s.channelWrite(w, r, false)
}

func (s *Server) channelWrite(w http.ResponseWriter, r *http.Request, promote bool) {
	p, ok := s.pipeline(w, r)
	if !ok {
		return
	}
	var req channelRequest
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64*1024)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
	} else {
		req.Version, req.Reason = r.PostFormValue("version"), r.PostFormValue("reason")
	}
	if promote && req.Version == "" {
		writeError(w, http.StatusBadRequest, "promote needs a version")
		return
	}
	rec, err := s.doChannel(r.Context(), p, r.PathValue("channel"), req, promote, who(r).name)
	if err != nil {
		channelError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// channelError answers a failed channel read or change, telling the
// caller's mistake from a registry that failed: 409 for a pipeline that
// publishes nowhere or a revoked version, 404 for a version, channel or
// earlier record that does not exist, 502 otherwise.
func channelError(w http.ResponseWriter, err error) {
	code := http.StatusBadGateway
	switch {
	case errors.Is(err, errNoRegistry), errors.Is(err, registry.ErrRevoked):
		code = http.StatusConflict
	case errors.Is(err, registry.ErrNotFound):
		code = http.StatusNotFound
	}
	writeError(w, code, err.Error())
}

func (s *Server) doChannel(ctx context.Context, p *Pipeline, channel string, req channelRequest, promote bool, by string) (*registry.Record, error) {
	by = "bake serve: " + by
	if promote {
		if req.Version == "" {
			return nil, errors.New("promote needs a version")
		}
		return SetChannel(ctx, p, channel, req.Version, req.Reason, by, s.registry)
	}
	return RollbackChannel(ctx, p, channel, req.Reason, by, s.registry)
}
