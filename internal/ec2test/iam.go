package ec2test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The server answers IAM (Version 2010-05-08) and STS (Version
// 2011-06-15) Query-API calls too, told apart by the service of the
// request's signature, so that one URL serves all three: give it to the
// SDK as the IAM and STS endpoint (AWS_ENDPOINT_URL_IAM,
// AWS_ENDPOINT_URL_STS).

// Role is an IAM role.
type Role struct {
	Name, ARN, ID string
	// AssumeRolePolicy is the trust policy document, as sent.
	AssumeRolePolicy string
	// Policies are its inline policies: name → document.
	Policies map[string]string
	Tags     map[string]string
}

// InstanceProfile is an IAM instance profile.
type InstanceProfile struct {
	Name, ARN, ID string
	Roles         []string
	Tags          map[string]string

	launches int // launches refused (Options.ProfileLag)
}

// AssumedSession is the answer of one AssumeRole call.
type AssumedSession struct {
	RoleARN, SessionName, ExternalID string
	DurationSeconds                  int
	Tags                             map[string]string
	// Policy is the inline session policy, PolicyARNs the managed ones
	// and TransitiveTagKeys the tags passed on, as sent.
	Policy            string
	PolicyARNs        []string
	TransitiveTagKeys []string
	// AccessKeyID is the key the caller was given.
	AccessKeyID string
}

type iamState struct {
	roles    map[string]*Role
	profiles map[string]*InstanceProfile
	sessions []AssumedSession
}

func newIAMState() *iamState {
	return &iamState{roles: map[string]*Role{}, profiles: map[string]*InstanceProfile{}}
}

// IAMInventory is a copy of the server's IAM state.
type IAMInventory struct {
	Roles            []Role
	InstanceProfiles []InstanceProfile
	// Sessions are the AssumeRole calls answered, in order.
	Sessions []AssumedSession
}

// IAM returns a copy of the IAM and STS state.
func (s *Server) IAM() IAMInventory {
	s.mu.Lock()
	defer s.mu.Unlock()
	var inv IAMInventory
	for _, n := range sortedKeys(s.iam.roles) {
		r := *s.iam.roles[n]
		r.Policies, r.Tags = maps.Clone(r.Policies), maps.Clone(r.Tags)
		inv.Roles = append(inv.Roles, r)
	}
	for _, n := range sortedKeys(s.iam.profiles) {
		p := *s.iam.profiles[n]
		p.Roles, p.Tags = slices.Clone(p.Roles), maps.Clone(p.Tags)
		inv.InstanceProfiles = append(inv.InstanceProfiles, p)
	}
	inv.Sessions = slices.Clone(s.iam.sessions)
	return inv
}

type queryHandler func(s *Server, p params) ([]*node, *apiError)

var iamHandlers = map[string]queryHandler{
	"CreateRole":                    createRole,
	"GetRole":                       getRole,
	"DeleteRole":                    deleteRole,
	"PutRolePolicy":                 putRolePolicy,
	"DeleteRolePolicy":              deleteRolePolicy,
	"CreateInstanceProfile":         createInstanceProfile,
	"GetInstanceProfile":            getInstanceProfile,
	"DeleteInstanceProfile":         deleteInstanceProfile,
	"AddRoleToInstanceProfile":      addRoleToInstanceProfile,
	"RemoveRoleFromInstanceProfile": removeRoleFromInstanceProfile,
	"ListRoles":                     listRoles,
	"ListInstanceProfiles":          listInstanceProfiles,
	"ListRolePolicies":              listRolePolicies,
}

var stsHandlers = map[string]queryHandler{
	"AssumeRole":        assumeRole,
	"GetCallerIdentity": getCallerIdentity,
}

func (s *Server) serveQuery(w http.ResponseWriter, reqID, service, action, key string, p params, auth string) {
	s.mu.Lock()
	call := Call{Time: time.Now(), Action: action, Region: "us-east-1", AccessKey: key, Service: service}
	nodes, aerr := s.handleQuery(service, action, p, auth)
	if aerr != nil {
		call.Code = aerr.code
	}
	s.calls = append(s.calls, call)
	s.mu.Unlock()

	var b bytes.Buffer
	b.WriteString(xml.Header)
	ns := "https://iam.amazonaws.com/doc/2010-05-08/"
	if service == "sts" {
		ns = "https://sts.amazonaws.com/doc/2011-06-15/"
	}
	w.Header().Set("Content-Type", "text/xml")
	if aerr != nil {
		b.WriteString(`<ErrorResponse xmlns="` + ns + `"><Error><Type>Sender</Type>`)
		el("Code", aerr.code).write(&b)
		el("Message", aerr.message).write(&b)
		b.WriteString("</Error>")
		el("RequestId", reqID).write(&b)
		b.WriteString("</ErrorResponse>")
		w.WriteHeader(aerr.status)
		_, _ = w.Write(b.Bytes())
		return
	}
	b.WriteString("<" + action + `Response xmlns="` + ns + `">`)
	obj(action+"Result", nodes...).write(&b)
	obj("ResponseMetadata", el("RequestId", reqID)).write(&b)
	b.WriteString("</" + action + "Response>")
	_, _ = w.Write(b.Bytes())
}

func (s *Server) handleQuery(service, action string, p params, auth string) ([]*node, *apiError) {
	if auth == "" {
		return nil, &apiError{status: http.StatusForbidden, code: "InvalidClientTokenId", message: "The security token included in the request is invalid."}
	}
	version, handlers := "2010-05-08", iamHandlers
	if service == "sts" {
		version, handlers = "2011-06-15", stsHandlers
	}
	if v := p.get("Version"); v != version {
		return nil, errorf("InvalidParameterValue", "Version %q is not supported; use %s", v, version)
	}
	if err := s.fault(action, ""); err != nil {
		return nil, err
	}
	h, found := handlers[action]
	if !found {
		return nil, errorf("InvalidAction", "The action %s is not valid for this web service.", action)
	}
	return h(s, p)
}

func noSuchEntity(format string, args ...any) *apiError {
	e := errorf("NoSuchEntity", format, args...)
	e.status = http.StatusNotFound
	return e
}

func conflict(code, format string, args ...any) *apiError {
	e := errorf(code, format, args...)
	e.status = http.StatusConflict
	return e
}

// queryTags returns Tags.member.N.{Key,Value}.
func queryTags(p params) map[string]string {
	tags := map[string]string{}
	for _, t := range p.members("Tags.member") {
		tags[t.get("Key")] = t.get("Value")
	}
	return tags
}

func queryTagNodes(tags map[string]string) *node {
	var items []*node
	for _, k := range sortedKeys(tags) {
		items = append(items, obj("member", el("Key", k), el("Value", tags[k])))
	}
	return set("Tags", items)
}

func (s *Server) roleNode(r *Role) *node {
	return obj("Role", el("Path", "/"), el("RoleName", r.Name), el("RoleId", r.ID), el("Arn", r.ARN),
		el("CreateDate", time.Now()), el("AssumeRolePolicyDocument", url.QueryEscape(r.AssumeRolePolicy)), queryTagNodes(r.Tags))
}

func (s *Server) profileNode(ip *InstanceProfile) *node {
	var roles []*node
	for _, n := range ip.Roles {
		if r := s.iam.roles[n]; r != nil {
			n := s.roleNode(r)
			n.name = "member"
			roles = append(roles, n)
		}
	}
	return obj("InstanceProfile", el("Path", "/"), el("InstanceProfileName", ip.Name), el("InstanceProfileId", ip.ID),
		el("Arn", ip.ARN), el("CreateDate", time.Now()), set("Roles", roles), queryTagNodes(ip.Tags))
}

// validPolicy checks that a policy document is a JSON object with a
// Statement, as IAM does (MalformedPolicyDocument).
func validPolicy(doc string) *apiError {
	var v struct {
		Version   string
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &v); err != nil || len(v.Statement) == 0 {
		return errorf("MalformedPolicyDocument", "The policy document is not valid JSON with a Statement.")
	}
	return nil
}

func createRole(s *Server, p params) ([]*node, *apiError) {
	name := p.get("RoleName")
	if name == "" {
		return nil, errorf("ValidationError", "RoleName is required")
	}
	if s.iam.roles[name] != nil {
		return nil, conflict("EntityAlreadyExists", "Role with name %s already exists.", name)
	}
	doc := p.get("AssumeRolePolicyDocument")
	if err := validPolicy(doc); err != nil {
		return nil, err
	}
	r := &Role{Name: name, ARN: "arn:aws:iam::" + s.opts.Account + ":role/" + name, ID: "AROA" + strings.ToUpper(newID("r")[2:]),
		AssumeRolePolicy: doc, Policies: map[string]string{}, Tags: queryTags(p)}
	s.iam.roles[name] = r
	return []*node{s.roleNode(r)}, nil
}

func getRole(s *Server, p params) ([]*node, *apiError) {
	r := s.iam.roles[p.get("RoleName")]
	if r == nil {
		return nil, noSuchEntity("The role with name %s cannot be found.", p.get("RoleName"))
	}
	return []*node{s.roleNode(r)}, nil
}

func deleteRole(s *Server, p params) ([]*node, *apiError) {
	name := p.get("RoleName")
	r := s.iam.roles[name]
	if r == nil {
		return nil, noSuchEntity("The role with name %s cannot be found.", name)
	}
	if len(r.Policies) > 0 {
		return nil, conflict("DeleteConflict", "Cannot delete entity, must delete policies first.")
	}
	for _, ip := range s.iam.profiles {
		if slices.Contains(ip.Roles, name) {
			return nil, conflict("DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
		}
	}
	delete(s.iam.roles, name)
	return nil, nil
}

func putRolePolicy(s *Server, p params) ([]*node, *apiError) {
	r := s.iam.roles[p.get("RoleName")]
	if r == nil {
		return nil, noSuchEntity("The role with name %s cannot be found.", p.get("RoleName"))
	}
	doc := p.get("PolicyDocument")
	if err := validPolicy(doc); err != nil {
		return nil, err
	}
	r.Policies[p.get("PolicyName")] = doc
	return nil, nil
}

func deleteRolePolicy(s *Server, p params) ([]*node, *apiError) {
	r := s.iam.roles[p.get("RoleName")]
	if r == nil {
		return nil, noSuchEntity("The role with name %s cannot be found.", p.get("RoleName"))
	}
	if _, found := r.Policies[p.get("PolicyName")]; !found {
		return nil, noSuchEntity("The role policy with name %s cannot be found.", p.get("PolicyName"))
	}
	delete(r.Policies, p.get("PolicyName"))
	return nil, nil
}

func createInstanceProfile(s *Server, p params) ([]*node, *apiError) {
	name := p.get("InstanceProfileName")
	if name == "" {
		return nil, errorf("ValidationError", "InstanceProfileName is required")
	}
	if s.iam.profiles[name] != nil {
		return nil, conflict("EntityAlreadyExists", "Instance Profile %s already exists.", name)
	}
	ip := &InstanceProfile{Name: name, ARN: "arn:aws:iam::" + s.opts.Account + ":instance-profile/" + name,
		ID: "AIPA" + strings.ToUpper(newID("p")[2:]), Tags: queryTags(p)}
	s.iam.profiles[name] = ip
	return []*node{s.profileNode(ip)}, nil
}

func getInstanceProfile(s *Server, p params) ([]*node, *apiError) {
	ip := s.iam.profiles[p.get("InstanceProfileName")]
	if ip == nil {
		return nil, noSuchEntity("Instance Profile %s cannot be found.", p.get("InstanceProfileName"))
	}
	return []*node{s.profileNode(ip)}, nil
}

func deleteInstanceProfile(s *Server, p params) ([]*node, *apiError) {
	name := p.get("InstanceProfileName")
	ip := s.iam.profiles[name]
	if ip == nil {
		return nil, noSuchEntity("Instance Profile %s cannot be found.", name)
	}
	if len(ip.Roles) > 0 {
		return nil, conflict("DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
	}
	delete(s.iam.profiles, name)
	return nil, nil
}

func addRoleToInstanceProfile(s *Server, p params) ([]*node, *apiError) {
	ip := s.iam.profiles[p.get("InstanceProfileName")]
	if ip == nil {
		return nil, noSuchEntity("Instance Profile %s cannot be found.", p.get("InstanceProfileName"))
	}
	if s.iam.roles[p.get("RoleName")] == nil {
		return nil, noSuchEntity("The role with name %s cannot be found.", p.get("RoleName"))
	}
	if len(ip.Roles) > 0 {
		return nil, conflict("LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
	}
	ip.Roles = append(ip.Roles, p.get("RoleName"))
	return nil, nil
}

func removeRoleFromInstanceProfile(s *Server, p params) ([]*node, *apiError) {
	ip := s.iam.profiles[p.get("InstanceProfileName")]
	if ip == nil {
		return nil, noSuchEntity("Instance Profile %s cannot be found.", p.get("InstanceProfileName"))
	}
	if !slices.Contains(ip.Roles, p.get("RoleName")) {
		return nil, noSuchEntity("The role with name %s cannot be found in instance profile %s.", p.get("RoleName"), ip.Name)
	}
	ip.Roles = slices.DeleteFunc(ip.Roles, func(r string) bool { return r == p.get("RoleName") })
	return nil, nil
}

// assumeRole answers with new credentials for an existing role ARN of
// the account (any role ARN of the form arn:aws:iam::ACCOUNT:role/NAME).
func assumeRole(s *Server, p params) ([]*node, *apiError) {
	arn, session := p.get("RoleArn"), p.get("RoleSessionName")
	if !strings.HasPrefix(arn, "arn:aws:iam::") || !strings.Contains(arn, ":role/") {
		return nil, errorf("ValidationError", "%s is invalid", arn)
	}
	if session == "" {
		return nil, errorf("ValidationError", "RoleSessionName is required")
	}
	d := 3600
	if p.get("DurationSeconds") != "" {
		d = p.int("DurationSeconds")
	}
	if d < 900 || d > 43200 {
		return nil, errorf("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	policy := p.get("Policy")
	if policy != "" && !json.Valid([]byte(policy)) {
		return nil, errorf("MalformedPolicyDocument", "The policy is not valid JSON.")
	}
	if len(policy) > 2048 {
		return nil, errorf("PackedPolicyTooLarge", "The session policy exceeds 2048 characters.")
	}
	var arns []string
	for _, m := range p.members("PolicyArns.member") {
		a := m.get("arn")
		if !strings.HasPrefix(a, "arn:aws:iam::") || !strings.Contains(a, ":policy/") {
			return nil, errorf("ValidationError", "%s is not a policy ARN", a)
		}
		arns = append(arns, a)
	}
	if len(arns) > 10 {
		return nil, errorf("ValidationError", "At most 10 policy ARNs may be passed.")
	}
	tags := queryTags(p)
	transitive := p.strings("TransitiveTagKeys.member")
	for _, k := range transitive {
		if _, ok := tags[k]; !ok {
			return nil, errorf("InvalidParameterValue", "The transitive tag key %s is not a session tag key.", k)
		}
	}
	key := "ASIA" + strings.ToUpper(newID("k")[2:])
	s.iam.sessions = append(s.iam.sessions, AssumedSession{RoleARN: arn, SessionName: session, ExternalID: p.get("ExternalId"),
		DurationSeconds: d, Tags: tags, Policy: policy, PolicyARNs: arns, TransitiveTagKeys: transitive, AccessKeyID: key})
	role := arn[strings.Index(arn, ":role/")+len(":role/"):]
	return []*node{
		obj("Credentials", el("AccessKeyId", key), el("SecretAccessKey", "assumed-secret-"+key), el("SessionToken", "token-"+key),
			el("Expiration", time.Now().Add(time.Duration(d)*time.Second))),
		obj("AssumedRoleUser", el("AssumedRoleId", "AROA"+strings.ToUpper(key[4:])+":"+session),
			el("Arn", "arn:aws:sts::"+s.opts.Account+":assumed-role/"+role+"/"+session)),
	}, nil
}

func getCallerIdentity(s *Server, _ params) ([]*node, *apiError) {
	return []*node{el("Account", s.opts.Account), el("Arn", "arn:aws:iam::"+s.opts.Account+":user/bake"), el("UserId", "AIDABAKE")}, nil
}

// listRoles lists every role, without tags, as IAM does.
func listRoles(s *Server, _ params) ([]*node, *apiError) {
	var items []*node
	for _, n := range sortedKeys(s.iam.roles) {
		r := *s.iam.roles[n]
		r.Tags = nil
		rn := s.roleNode(&r)
		rn.name = "member"
		items = append(items, rn)
	}
	return []*node{set("Roles", items), el("IsTruncated", false)}, nil
}

func listInstanceProfiles(s *Server, _ params) ([]*node, *apiError) {
	var items []*node
	for _, n := range sortedKeys(s.iam.profiles) {
		ip := *s.iam.profiles[n]
		ip.Tags = nil
		pn := s.profileNode(&ip)
		pn.name = "member"
		items = append(items, pn)
	}
	return []*node{set("InstanceProfiles", items), el("IsTruncated", false)}, nil
}

func listRolePolicies(s *Server, p params) ([]*node, *apiError) {
	r := s.iam.roles[p.get("RoleName")]
	if r == nil {
		return nil, noSuchEntity("The role with name %s cannot be found.", p.get("RoleName"))
	}
	var items []*node
	for _, n := range sortedKeys(r.Policies) {
		items = append(items, el("member", n))
	}
	return []*node{set("PolicyNames", items), el("IsTruncated", false)}, nil
}
