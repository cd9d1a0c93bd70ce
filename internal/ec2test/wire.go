package ec2test

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// node is one XML element of an answer: text, or children.
type node struct {
	name string
	text string
	kids []*node
}

// el is a leaf element; v is a string, bool, int or time.Time.
func el(name string, v any) *node {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case bool:
		s = strconv.FormatBool(v)
	case int:
		s = strconv.Itoa(v)
	case time.Time:
		s = v.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return &node{name: name, text: s}
}

// obj is an element with children; nil children are dropped.
func obj(name string, kids ...*node) *node {
	n := &node{name: name}
	for _, k := range kids {
		if k != nil {
			n.kids = append(n.kids, k)
		}
	}
	return n
}

// set is a list element whose members are <item> elements.
func set(name string, items []*node) *node {
	n := &node{name: name, kids: items}
	if n.kids == nil {
		n.kids = []*node{}
	}
	return n
}

func item(kids ...*node) *node { return obj("item", kids...) }

// optional returns el(name, v) unless v is empty.
func optional(name, v string) *node {
	if v == "" {
		return nil
	}
	return el(name, v)
}

func tagSet(tags map[string]string) *node {
	var items []*node
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		items = append(items, item(el("key", k), el("value", tags[k])))
	}
	return set("tagSet", items)
}

func (n *node) write(b *bytes.Buffer) {
	b.WriteString("<" + n.name + ">")
	if n.kids != nil {
		for _, k := range n.kids {
			k.write(b)
		}
	} else {
		_ = xml.EscapeText(b, []byte(n.text))
	}
	b.WriteString("</" + n.name + ">")
}

func writeResponse(w http.ResponseWriter, action, reqID string, nodes []*node) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<" + action + `Response xmlns="http://ec2.amazonaws.com/doc/` + APIVersion + `/">`)
	el("requestId", reqID).write(&b)
	for _, n := range nodes {
		n.write(&b)
	}
	b.WriteString("</" + action + "Response>")
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = w.Write(b.Bytes())
}

func writeError(w http.ResponseWriter, reqID string, e *apiError) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Response><Errors><Error>")
	el("Code", e.code).write(&b)
	el("Message", e.message).write(&b)
	b.WriteString("</Error></Errors>")
	el("RequestID", reqID).write(&b)
	b.WriteString("</Response>")
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(e.status)
	_, _ = w.Write(b.Bytes())
}

// params are a request's form values, or one member of a list of
// structures within it with the member's prefix removed.
type params url.Values

func (p params) get(key string) string { return url.Values(p).Get(key) }

func (p params) bool(key string) bool { return p.get(key) == "true" }

func (p params) int(key string) int {
	n, _ := strconv.Atoi(p.get(key))
	return n
}

// indices returns the list indices present under prefix ("Filter" →
// 1, 2, ... for Filter.1.Name, Filter.2.Name), sorted.
func (p params) indices(prefix string) []int {
	seen := map[int]bool{}
	for k := range p {
		rest, found := strings.CutPrefix(k, prefix+".")
		if !found {
			continue
		}
		idx, _, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(idx); err == nil {
			seen[n] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// strings returns the scalar list prefix.1, prefix.2, ...
func (p params) strings(prefix string) []string {
	var out []string
	for _, i := range p.indices(prefix) {
		if v, found := p[prefix+"."+strconv.Itoa(i)]; found && len(v) > 0 {
			out = append(out, v[0])
		}
	}
	return out
}

// members returns the structure list prefix.N.*, each with its prefix
// removed.
func (p params) members(prefix string) []params {
	var out []params
	for _, i := range p.indices(prefix) {
		out = append(out, p.sub(prefix+"."+strconv.Itoa(i)))
	}
	return out
}

// sub returns the fields of the structure at prefix.
func (p params) sub(prefix string) params {
	m := params{}
	for k, v := range p {
		if rest, found := strings.CutPrefix(k, prefix+"."); found {
			m[rest] = v
		}
	}
	return m
}

// filter is one Filter.N of a Describe call.
type filter struct {
	name   string
	values []string
}

func (p params) filters() []filter {
	var out []filter
	for _, m := range p.members("Filter") {
		out = append(out, filter{name: m.get("Name"), values: m.strings("Value")})
	}
	return out
}

// tagSpecs returns the tags of TagSpecification.N for resourceType.
func (p params) tagSpecs(resourceType string) map[string]string {
	tags := map[string]string{}
	for _, m := range p.members("TagSpecification") {
		if m.get("ResourceType") != resourceType {
			continue
		}
		for _, t := range m.members("Tag") {
			tags[t.get("Key")] = t.get("Value")
		}
	}
	return tags
}

// attrs are the filterable attributes of a resource: filter name →
// values; tags are matched separately.
type attrs map[string][]string

// matches reports whether a resource with attributes a and tags passes
// every filter. An unknown filter name is an error, as in EC2.
func matches(fs []filter, a attrs, tags map[string]string) (bool, *apiError) {
	for _, f := range fs {
		var have []string
		switch {
		case strings.HasPrefix(f.name, "tag:"):
			if v, found := tags[strings.TrimPrefix(f.name, "tag:")]; found {
				have = []string{v}
			}
		case f.name == "tag-key":
			for k := range tags {
				have = append(have, k)
			}
		case f.name == "tag-value":
			for _, v := range tags {
				have = append(have, v)
			}
		default:
			v, known := a[f.name]
			if !known {
				return false, errorf("InvalidParameterValue", "The filter '%s' is invalid", f.name)
			}
			have = v
		}
		hit := false
		for _, want := range f.values {
			for _, h := range have {
				if globMatch(want, h) {
					hit = true
				}
			}
		}
		if !hit {
			return false, nil
		}
	}
	return true, nil
}
