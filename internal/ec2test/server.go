package ec2test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// APIVersion is the EC2 API version the server speaks.
const APIVersion = "2016-11-15"

// Forever, as a Delays field, holds resources in their transitional state
// (an image that stays pending) until the test changes the delay.
const Forever time.Duration = -1

// DefaultAccount is the account id that owns what the server makes.
const DefaultAccount = "123456789012"

// DefaultRegions are the regions a server knows when Options.Regions is
// empty.
var DefaultRegions = []string{"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"}

// Delays are how long resources stay in each transitional state. A zero
// field means the default (DefaultDelay); Forever holds the state.
type Delays struct {
	InstancePending      time.Duration // pending → running
	InstanceStopping     time.Duration // stopping → stopped
	InstanceShuttingDown time.Duration // shutting-down → terminated
	ImagePending         time.Duration // CreateImage: pending → available
	CopyPending          time.Duration // CopyImage: pending → available
	SnapshotPending      time.Duration // pending → completed
}

// DefaultDelay is the transition delay of a zero Delays field: short, so
// that tests run quickly, but long enough that a client must wait.
const DefaultDelay = 50 * time.Millisecond

func (d Delays) withDefaults() Delays {
	for _, p := range []*time.Duration{&d.InstancePending, &d.InstanceStopping, &d.InstanceShuttingDown,
		&d.ImagePending, &d.CopyPending, &d.SnapshotPending} {
		if *p == 0 {
			*p = DefaultDelay
		}
	}
	return d
}

// Options configure a Server.
type Options struct {
	// Regions the server serves; DefaultRegions when empty. Each gets a
	// default VPC with one default subnet per availability zone.
	Regions []string
	// Account owns everything the server makes; DefaultAccount when empty.
	Account string
	// Delays of the state transitions.
	Delays Delays
	// PublicIP and PrivateIP are every instance's addresses; 127.0.0.1 when
	// empty.
	PublicIP, PrivateIP string
	// OnLaunch, when set, is called (without the server's lock held) for
	// each instance RunInstances launches, with the public key of its key
	// pair: a test installs it in its sshd the way cloud-init would.
	OnLaunch func(inst Instance, authorizedKey string)
	// GroupInUseCode is the error code of DeleteSecurityGroup for a group a
	// live instance still uses: "InvalidGroup.InUse" when empty; real VPCs
	// answer "DependencyViolation".
	GroupInUseCode string
	// NoSpotCapacity lists instance types of which an instant fleet finds
	// no spot capacity: it tries the next override's type, and reports
	// InsufficientInstanceCapacity when none is left.
	NoSpotCapacity []string
	// ProfileLag is how many launches naming an instance profile that
	// this server's IAM made EC2 refuses ("Invalid IAM Instance Profile
	// name") before it knows it, as IAM's eventual consistency makes EC2
	// do.
	ProfileLag int
}

// Fault makes matching calls fail.
type Fault struct {
	// Action is the EC2, IAM or STS action ("RunInstances", "CreateRole",
	// "AssumeRole"); empty matches every one.
	Action string
	// Region restricts the fault to one region; empty matches all.
	Region string
	// Skip lets this many matching calls through before failing.
	Skip int
	// Times is how many calls fail; 0 means once, a negative number always.
	Times int
	// Code and Message are the error's; Status its HTTP status, by default
	// 503 for RequestLimitExceeded and Unavailable, 500 for InternalError
	// and 400 otherwise.
	Code, Message string
	Status        int
}

// Call is one request the server answered.
type Call struct {
	Time   time.Time
	Action string
	Region string
	// Code is the error code answered, "" for success.
	Code string
	// AccessKey is the access key id the request was signed with.
	AccessKey string
	// Service is "ec2", "iam" or "sts".
	Service string
}

// Server is a running EC2 test server.
type Server struct {
	// URL is the endpoint to give the SDK (custom_endpoint_ec2).
	URL string

	srv  *httptest.Server
	opts Options

	mu      sync.Mutex
	delays  Delays
	regions map[string]*region
	iam     *iamState
	faults  []*Fault
	calls   []Call
}

// region is one region's inventory.
type region struct {
	name      string
	instances map[string]*Instance
	keyPairs  map[string]*KeyPair // by name
	groups    map[string]*SecurityGroup
	vpcs      map[string]*VPC
	subnets   map[string]*Subnet
	images    map[string]*Image
	snapshots map[string]*Snapshot
	templates map[string]*LaunchTemplate // by id
	fleets    map[string]*Fleet
}

// Start starts a server on loopback and closes it when t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

// New starts a server on loopback; Close stops it.
func New(opts Options) *Server {
	if len(opts.Regions) == 0 {
		opts.Regions = DefaultRegions
	}
	if opts.Account == "" {
		opts.Account = DefaultAccount
	}
	if opts.PublicIP == "" {
		opts.PublicIP = "127.0.0.1"
	}
	if opts.PrivateIP == "" {
		opts.PrivateIP = "127.0.0.1"
	}
	if opts.GroupInUseCode == "" {
		opts.GroupInUseCode = "InvalidGroup.InUse"
	}
	s := &Server{opts: opts, delays: opts.Delays.withDefaults(), regions: map[string]*region{}, iam: newIAMState()}
	for _, name := range opts.Regions {
		r := &region{
			name:      name,
			instances: map[string]*Instance{},
			keyPairs:  map[string]*KeyPair{},
			groups:    map[string]*SecurityGroup{},
			vpcs:      map[string]*VPC{},
			subnets:   map[string]*Subnet{},
			images:    map[string]*Image{},
			snapshots: map[string]*Snapshot{},
			templates: map[string]*LaunchTemplate{},
			fleets:    map[string]*Fleet{},
		}
		s.regions[name] = r
		vpc := &VPC{ID: newID("vpc"), Region: name, CIDR: "172.31.0.0/16", Default: true, Tags: map[string]string{}}
		r.vpcs[vpc.ID] = vpc
		sg := &SecurityGroup{ID: newID("sg"), Name: "default", Description: "default VPC security group", VPCID: vpc.ID, Region: name, Tags: map[string]string{}}
		r.groups[sg.ID] = sg
		for i, az := range []string{"a", "b", "c"} {
			sn := &Subnet{ID: newID("subnet"), Region: name, VPCID: vpc.ID, AZ: name + az, CIDR: fmt.Sprintf("172.31.%d.0/20", 16*i),
				Free: 4091, Default: true, MapPublicIP: true, Tags: map[string]string{}}
			r.subnets[sn.ID] = sn
		}
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Account returns the id of the account that owns the server's resources.
func (s *Server) Account() string { return s.opts.Account }

// SetDelays replaces the transition delays for transitions that start
// from now on (zero fields take DefaultDelay). Resources already waiting
// keep their deadline unless it was Forever, in which case the new delay
// counts from now.
func (s *Server) SetDelays(d Delays) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays = d.withDefaults()
	now := time.Now()
	for _, r := range s.regions {
		for _, img := range r.images {
			if img.State == "pending" && img.until.IsZero() {
				img.until = deadline(now, s.imageDelay(img))
			}
		}
		for _, sn := range r.snapshots {
			if sn.State == "pending" && sn.until.IsZero() {
				sn.until = deadline(now, s.delays.SnapshotPending)
			}
		}
		for _, in := range r.instances {
			if in.until.IsZero() {
				in.until = deadline(now, s.instanceDelay(in.State))
			}
		}
	}
}

// Inject adds a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	if f.Status == 0 {
		f.Status = statusOf(f.Code)
	}
	if f.Message == "" {
		f.Message = "Injected fault: " + f.Code + "."
	}
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault not yet used up.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns every call answered so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// MaxCallsIn returns the largest number of calls the server received for
// region (every region when empty) in any window of length d:
// MaxCallsIn(time.Second, "") is the peak calls per second.
func (s *Server) MaxCallsIn(d time.Duration, region string) int {
	var calls []Call
	for _, c := range s.Calls() {
		if region == "" || c.Region == region {
			calls = append(calls, c)
		}
	}
	best, j := 0, 0
	for i := range calls {
		for calls[i].Time.Sub(calls[j].Time) >= d {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// CallsPerSecond returns how many calls arrived in each wall-clock second
// (Unix time) that saw any.
func (s *Server) CallsPerSecond() map[int64]int {
	out := map[int64]int{}
	for _, c := range s.Calls() {
		out[c.Time.Unix()]++
	}
	return out
}

func statusOf(code string) int {
	switch code {
	case "RequestLimitExceeded", "Unavailable", "ServiceUnavailable", "InsufficientInstanceCapacity":
		return http.StatusServiceUnavailable
	case "InternalError", "InternalFailure":
		return http.StatusInternalServerError
	case "UnauthorizedOperation", "AuthFailure":
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// apiError is an EC2 error answer.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(code, format string, args ...any) *apiError {
	return &apiError{status: statusOf(code), code: code, message: fmt.Sprintf(format, args...)}
}

var credentialRE = regexp.MustCompile(`Credential=([^/]+)/[0-9]+/([^/]+)/([^/]+)/`)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newUUID()
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeError(w, reqID, errorf("InvalidAction", "method %s is not supported", r.Method))
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, reqID, errorf("MalformedQueryString", "%v", err))
		return
	}
	form := params(r.Form)
	action := form.get("Action")
	regionName, service, key := "us-east-1", "ec2", ""
	if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		key, regionName, service = m[1], m[2], m[3]
	}
	if service == "iam" || service == "sts" {
		s.serveQuery(w, reqID, service, action, key, form, r.Header.Get("Authorization"))
		return
	}

	s.mu.Lock()
	call := Call{Time: time.Now(), Action: action, Region: regionName, AccessKey: key, Service: "ec2"}
	body, aerr := s.handle(action, regionName, form, r.Header.Get("Authorization"))
	var hook func()
	if aerr == nil {
		hook = body.hook
	} else {
		call.Code = aerr.code
	}
	s.calls = append(s.calls, call)
	s.mu.Unlock()

	if aerr != nil {
		writeError(w, reqID, aerr)
		return
	}
	if hook != nil {
		hook()
	}
	writeResponse(w, action, reqID, body.nodes)
}

// result is a handler's answer: the response's child elements and, when
// set, a function to call after the lock is released.
type result struct {
	nodes []*node
	hook  func()
}

func ok(nodes ...*node) *result { return &result{nodes: nodes} }

// handle checks faults and dispatches; s.mu is held.
func (s *Server) handle(action, regionName string, p params, auth string) (*result, *apiError) {
	if auth == "" {
		return nil, errorf("AuthFailure", "AWS was not able to validate the provided access credentials")
	}
	if v := p.get("Version"); v != APIVersion {
		return nil, errorf("InvalidParameterValue", "Version %q is not supported; use %s", v, APIVersion)
	}
	if err := s.fault(action, regionName); err != nil {
		return nil, err
	}
	r, known := s.regions[regionName]
	if !known {
		return nil, errorf("AuthFailure", "region %s is not enabled for this account", regionName)
	}
	h, found := handlers[action]
	if !found {
		return nil, errorf("InvalidAction", "The action %s is not valid for this web service.", action)
	}
	s.advance(time.Now())
	return h(s, r, p)
}

// fault returns the error of the first fault that matches the call, if
// any, and uses it; s.mu is held.
func (s *Server) fault(action, regionName string) *apiError {
	for _, f := range s.faults {
		if (f.Action == "" || f.Action == action) && (f.Region == "" || f.Region == regionName) && f.Times != 0 {
			if f.Skip > 0 {
				f.Skip--
				continue
			}
			if f.Times > 0 {
				f.Times--
			}
			return &apiError{status: f.Status, code: f.Code, message: f.Message}
		}
	}
	return nil
}

// deadline is now+d, or the zero time for Forever.
func deadline(now time.Time, d time.Duration) time.Time {
	if d < 0 {
		return time.Time{}
	}
	return now.Add(d)
}

func (s *Server) imageDelay(img *Image) time.Duration {
	if img.SourceRegion != "" {
		return s.delays.CopyPending
	}
	return s.delays.ImagePending
}

func (s *Server) instanceDelay(state string) time.Duration {
	switch state {
	case "pending":
		return s.delays.InstancePending
	case "stopping":
		return s.delays.InstanceStopping
	case "shutting-down":
		return s.delays.InstanceShuttingDown
	}
	return 0
}

// advance moves every resource whose transition is due to its next state.
func (s *Server) advance(now time.Time) {
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	for _, r := range s.regions {
		for _, in := range r.instances {
			if !due(in.until) {
				continue
			}
			switch in.State {
			case "pending":
				in.setState("running")
			case "stopping":
				in.setState("stopped")
			case "shutting-down":
				in.setState("terminated")
			}
			in.until = time.Time{}
		}
		for _, sn := range r.snapshots {
			if sn.State == "pending" && due(sn.until) {
				sn.State, sn.Progress, sn.until = "completed", "100%", time.Time{}
			}
		}
		for _, img := range r.images {
			if img.State == "pending" && due(img.until) {
				img.State, img.until = "available", time.Time{}
				for _, id := range img.snapshotIDs() {
					if sn := r.snapshots[id]; sn != nil && sn.State == "pending" {
						sn.State, sn.Progress, sn.until = "completed", "100%", time.Time{}
					}
				}
			}
		}
	}
}

func newID(prefix string) string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)[:17]
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// globMatch matches s against an EC2 filter value, where * matches any
// run of characters and ? any one character.
func globMatch(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String()).MatchString(s)
}
