package server

import (
	"cmp"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bake-tool/bake/artifacts/registry"
)

//go:embed web/*.html web/*.css web/*.js
var webFS embed.FS

// pages are the dashboard's pages, each with the shared layout, parsed
// on first use: not by every bake command at start-up, nor by an idle
// server nobody has looked at.
var pages = sync.OnceValue(func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, p := range []string{"login", "index", "run", "pipeline", "artifacts"} {
		m[p] = template.Must(template.ParseFS(webFS, "web/layout.html", "web/"+p+".html"))
	}
	return m
})

// page is what every page template gets.
type page struct {
	Title    string
	Who      string
	Role     string
	CSRF     string
	Operator bool
}

func (s *Server) webRoutes() {
	static, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(static)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	s.mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, "login", struct {
			page
			Error string
		}{page: page{Title: "log in"}})
	})
	s.mux.HandleFunc("POST /login", s.webLogin)
	s.mux.HandleFunc("POST /logout", s.web(RoleViewer, s.webLogout))
	s.mux.HandleFunc("GET /{$}", s.web(RoleViewer, s.webIndex))
	s.mux.HandleFunc("GET /runs/{id}", s.web(RoleViewer, s.webRun))
	s.mux.HandleFunc("GET /runs/{id}/artifacts", s.web(RoleViewer, s.webArtifacts))
	s.mux.HandleFunc("POST /runs/{id}/cancel", s.web(RoleOperator, s.webCancel))
	s.mux.HandleFunc("GET /pipelines/{name}", s.web(RoleViewer, s.webPipeline))
	s.mux.HandleFunc("POST /pipelines/{name}/runs", s.web(RoleOperator, s.webTrigger))
	s.mux.HandleFunc("POST /pipelines/{name}/promote", s.web(RoleOperator, s.webPromote))
	s.mux.HandleFunc("POST /pipelines/{name}/channels/{channel}/rollback", s.web(RoleOperator, s.webRollback))
}

// web wraps a page handler: without a session the browser goes to the
// login page; below role or without the CSRF token on a POST, 403.
func (s *Server) web(role string, h func(http.ResponseWriter, *http.Request, page)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.authenticate(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if roleRank(id.role) < roleRank(role) {
			http.Error(w, fmt.Sprintf("your token's role is %s; this needs %s", id.role, role), http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost && (!id.cookie || !s.csrfOK(r, id)) {
			http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
			return
		}
		pg := page{Who: id.name, Role: id.role, CSRF: s.csrfToken(id.tokenHash), Operator: roleRank(id.role) >= roleRank(RoleOperator)}
		h(w, r, pg)
	}
}

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pages()[name].ExecuteTemplate(w, name+".html", data); err != nil {
		s.log.Error("render page", "page", name, "err", err)
	}
}

func (s *Server) webLogin(w http.ResponseWriter, r *http.Request) {
	tok := r.PostFormValue("token")
	r.Header.Set("Authorization", "Bearer "+tok)
	if _, ok := s.authenticate(r); tok == "" || !ok {
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, "login", struct {
			page
			Error string
		}{page{Title: "log in"}, "That token is not valid."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) webLogout(w http.ResponseWriter, r *http.Request, _ page) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) webIndex(w http.ResponseWriter, r *http.Request, pg page) {
	pis, err := s.pipelineInfos(r.Context(), 10)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	runs, err := s.store.Runs(r.Context(), "", 200)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var recent []*Run
	since := time.Now().Add(-24 * time.Hour)
	for _, run := range runs {
		if run.CreatedAt.After(since) {
			recent = append(recent, run)
		}
	}
	pg.Title = "pipelines"
	s.render(w, "index", struct {
		page
		Pipelines []PipelineInfo
		Recent    []*Run
	}{pg, pis, recent})
}

// logTail is how many lines of a run's log its page shows at first; the
// rest is a link away ("earlier lines", a page of the events API at a
// time) and live ones come over SSE, so a 50,000-line log does not freeze
// the page.
const logTail = 1000

// liveLogMax is how many lines the run page keeps while it follows a
// run's live log scrolled to its end: older ones leave the page (the
// "earlier lines" link brings them back), so that a build printing
// millions of lines does not grow the page without bound. A variable for
// the tests.
var liveLogMax = 10_000

// buildRow is a line of a run page's builds table.
type buildRow struct {
	Name, Status, Step, Took string
}

// buildRows sums up a run's build and step events per build, in the order
// the builds started.
func buildRows(evs []Event) []buildRow {
	var rows []buildRow
	at := map[string]int{}
	for _, ev := range evs {
		if ev.Build == "" {
			continue
		}
		var e struct {
			Step    string  `json:"step"`
			Status  string  `json:"status"`
			Elapsed float64 `json:"elapsed_seconds"`
		}
		_ = json.Unmarshal(ev.Body, &e)
		i, ok := at[ev.Build]
		if !ok {
			i = len(rows)
			at[ev.Build] = i
			rows = append(rows, buildRow{Name: ev.Build, Status: "running"})
		}
		switch ev.Type {
		case "step_started":
			rows[i].Step = e.Step
		case "build_finished":
			rows[i].Status = e.Status
			if e.Elapsed > 0 {
				rows[i].Took = fmt.Sprintf("%.1f s", e.Elapsed)
			}
		}
	}
	return rows
}

// eventLine is an event as a line of the run page's log; web/live.js
// writes live events the same way.
func eventLine(ev Event) string {
	var e struct {
		Build   string `json:"build"`
		Type    string `json:"type"`
		Step    string `json:"step"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Error   string `json:"error"`
	}
	_ = json.Unmarshal(ev.Body, &e)
	parts := []string{ev.Time.UTC().Format("15:04:05")}
	if e.Build != "" {
		parts = append(parts, e.Build+":")
	}
	switch {
	case e.Type == "server":
		parts = append(parts, "["+cmp.Or(e.Step, "server")+"]")
	case e.Type != "output":
		parts = append(parts, "["+strings.TrimSpace(e.Type+" "+e.Step)+"]")
	}
	for _, p := range []string{e.Message, e.Status} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if e.Error != "" {
		parts = append(parts, "error: "+e.Error)
	}
	return strings.Join(parts, " ")
}

func (s *Server) webRun(w http.ResponseWriter, r *http.Request, pg page) {
	id, ok := runID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	run, err := s.store.Run(ctx, id)
	if errors.Is(err, ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	tail, err := s.store.EventsBefore(ctx, id, 0, logTail)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	bevs, err := s.store.BuildEvents(ctx, id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var log strings.Builder
	first, last := 0, 0
	for _, ev := range tail {
		log.WriteString(eventLine(ev))
		log.WriteByte('\n')
	}
	if len(tail) > 0 {
		first, last = tail[0].Seq, tail[len(tail)-1].Seq
	}
	ds, _ := s.store.Deliveries(ctx, id)
	pg.Title = fmt.Sprintf("run %d", id)
	s.render(w, "run", struct {
		page
		Run         *Run
		Builds      []buildRow
		Log         string
		First, Last int
		Earlier     int // lines before the first shown
		Max         int // liveLogMax
		Deliveries  []Delivery
	}{pg, run, buildRows(bevs), log.String(), first, last, max(first-1, 0), liveLogMax, ds})
}

func (s *Server) webArtifacts(w http.ResponseWriter, r *http.Request, pg page) {
	id, ok := runID(w, r)
	if !ok {
		return
	}
	run, err := s.store.Run(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	a, err := s.store.Artifacts(r.Context(), id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	pg.Title = fmt.Sprintf("run %d artifacts", id)
	s.render(w, "artifacts", struct {
		page
		Run       *Run
		Artifacts *RunArtifacts
	}{pg, run, a})
}

func (s *Server) webCancel(w http.ResponseWriter, r *http.Request, _ page) {
	id, ok := runID(w, r)
	if !ok {
		return
	}
	if _, err := s.runner.Cancel(r.Context(), id); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/runs/%d", id), http.StatusSeeOther)
}

func (s *Server) webTrigger(w http.ResponseWriter, r *http.Request, pg page) {
	run, err := s.runner.Trigger(r.Context(), r.PathValue("name"), "web:"+pg.Who)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/runs/%d", run.ID), http.StatusSeeOther)
}

type channelView struct {
	*registry.Record
	History []*registry.Record
}

func (s *Server) webPipeline(w http.ResponseWriter, r *http.Request, pg page) {
	p := s.cfg.Pipeline(r.PathValue("name"))
	if p == nil {
		http.NotFound(w, r)
		return
	}
	pis, err := s.pipelineInfos(r.Context(), 50)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var info PipelineInfo
	for _, pi := range pis {
		if pi.Name == p.Name {
			info = pi
		}
	}
	var views []channelView
	var chErr string
	if p.Publish != "" {
		heads, err := Channels(r.Context(), p, s.registry)
		if err != nil {
			chErr = err.Error()
		}
		for _, h := range heads {
			v := channelView{Record: h}
			if hist, err := ChannelHistory(r.Context(), p, h.Channel, s.registry); err == nil && len(hist) > 1 {
				v.History = hist[1:]
			}
			views = append(views, v)
		}
	}
	pg.Title = p.Name
	s.render(w, "pipeline", struct {
		page
		P            *Pipeline
		Info         PipelineInfo
		Channels     []channelView
		ChannelError string
	}{pg, p, info, views, chErr})
}

func (s *Server) webPromote(w http.ResponseWriter, r *http.Request, pg page) {
	s.webChannel(w, r, pg, r.PostFormValue("channel"), true)
}

func (s *Server) webRollback(w http.ResponseWriter, r *http.Request, pg page) {
	s.webChannel(w, r, pg, r.PathValue("channel"), false)
}

func (s *Server) webChannel(w http.ResponseWriter, r *http.Request, pg page, channel string, promote bool) {
	p := s.cfg.Pipeline(r.PathValue("name"))
	if p == nil {
		http.NotFound(w, r)
		return
	}
	req := channelRequest{Version: r.PostFormValue("version"), Reason: "from the dashboard"}
	if _, err := s.doChannel(r.Context(), p, channel, req, promote, pg.Who); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, "/pipelines/"+p.Name, http.StatusSeeOther)
}
