package httpdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/bake-tool/bake/templates"
)

// MaxBody bounds the response body a data source reads: a template value,
// not a download.
const MaxBody = 16 << 20

// Config is the http data source's block.
type Config struct {
	// URL is the http or https address to request; required.
	URL string `hcl:"url"`
	// RequestHeaders are sent with the request.
	RequestHeaders map[string]string `hcl:"request_headers"`
	// Method defaults to GET (Packer 1.10 added it).
	Method string `hcl:"method"`
	// RequestBody is sent as the request's body.
	RequestBody string `hcl:"request_body"`
}

var _ templates.Config = (*Config)(nil)

// Prepare checks the URL and method.
func (c *Config) Prepare(b *templates.Body) hcl.Diagnostics {
	diags := b.Required(nil, "url")
	if b.Known("url") {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			diags = append(diags, b.Error("url", "Invalid URL",
				`"url" must be an absolute http:// or https:// address.`))
		}
	}
	if !b.Has("method") {
		c.Method = http.MethodGet
	} else if b.Known("method") {
		c.Method = strings.ToUpper(c.Method)
		switch c.Method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		default:
			diags = append(diags, b.Errorf("method", "Invalid value",
				"%q is not an HTTP method bake sends: use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS.", c.Method))
		}
	}
	return diags
}

// Type is the data source's value: data.http.NAME.url, .body,
// .request_headers and .response_headers, as in Packer.
var Type = cty.Object(map[string]cty.Type{
	"url":              cty.String,
	"body":             cty.String,
	"request_headers":  cty.Map(cty.String),
	"response_headers": cty.Map(cty.String),
})

// Execute requests cfg's URL (cfg is a prepared *Config) and returns the
// answer as a value of Type. A status outside 2xx is an error, as in
// Packer. Errors name neither the URL nor the headers: either can carry a
// token.
func Execute(ctx context.Context, cfg templates.Config) (cty.Value, error) {
	return execute(ctx, http.DefaultClient, cfg)
}

func execute(ctx context.Context, client *http.Client, cfg templates.Config) (cty.Value, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return cty.NilVal, fmt.Errorf("http data source: config is %T, not *httpdata.Config", cfg)
	}
	var body io.Reader
	if c.RequestBody != "" {
		body = strings.NewReader(c.RequestBody)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, body)
	if err != nil {
		return cty.NilVal, fmt.Errorf("make the request: %w", withoutURL(err))
	}
	for k, v := range c.RequestHeaders {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return cty.NilVal, fmt.Errorf("%s request: %w", c.Method, withoutURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return cty.NilVal, fmt.Errorf("the server answered %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return cty.NilVal, fmt.Errorf("read the response: %w", withoutURL(err))
	}
	if len(data) > MaxBody {
		return cty.NilVal, fmt.Errorf("the response is larger than %d MiB", MaxBody>>20)
	}
	if !utf8.Valid(data) {
		data = bytes.ToValidUTF8(data, []byte("\uFFFD"))
	}
	return cty.ObjectVal(map[string]cty.Value{
		"url":              cty.StringVal(c.URL),
		"body":             cty.StringVal(string(data)),
		"request_headers":  stringMap(c.RequestHeaders),
		"response_headers": headerMap(resp.Header),
	}), nil
}

// withoutURL drops the URL that net/http's errors quote.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func stringMap(m map[string]string) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	vals := make(map[string]cty.Value, len(m))
	for k, v := range m {
		vals[k] = cty.StringVal(v)
	}
	return cty.MapVal(vals)
}

// headerMap gives each response header once, under its canonical name,
// with repeated values joined by ", " as Packer does.
func headerMap(h http.Header) cty.Value {
	m := make(map[string]string, len(h))
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m[k] = strings.Join(h[k], ", ")
	}
	return stringMap(m)
}
