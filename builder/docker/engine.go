package docker

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/client"
	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/templates"
)

// EngineConfig chooses the Docker engine a docker source builds on. With
// none of its options the engine is the one the environment bake was
// started with names, as the docker CLI finds it: DOCKER_HOST (with
// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), else the context DOCKER_CONTEXT
// or the docker config's currentContext names, else the local socket.
// Each source resolves its own engine, so one template can build on
// several engines at once.
type EngineConfig struct {
	// DockerHost is the engine's address: unix:///path, tcp://host:port
	// (TLS when DockerCertPath is set) or npipe://.
	DockerHost string `hcl:"docker_host"`
	// DockerCertPath is a directory holding ca.pem, cert.pem and key.pem,
	// the docker CLI's layout; it turns TLS on.
	DockerCertPath string `hcl:"docker_cert_path"`
	// DockerTLSVerify checks the engine's certificate against ca.pem;
	// default true whenever TLS is on.
	DockerTLSVerify *bool `hcl:"docker_tls_verify"`
}

// prepare checks the engine options.
func (c *EngineConfig) prepare(b *templates.Body, diags hcl.Diagnostics) hcl.Diagnostics {
	if b.Known("docker_host") && c.DockerHost != "" {
		if _, err := client.ParseHostURL(c.DockerHost); err != nil {
			diags = append(diags, b.Error("docker_host", "Invalid engine address",
				fmt.Sprintf("%q is not an engine address (%v); write it as unix:///var/run/docker.sock or tcp://host:2376.", c.DockerHost, err)))
		} else if strings.HasPrefix(c.DockerHost, "ssh://") {
			diags = append(diags, b.Error("docker_host", "Unsupported engine address",
				`bake speaks to the engine's API directly and cannot tunnel it over ssh://; forward the engine's socket (ssh -L) and use tcp:// or unix://.`))
		}
	}
	if b.Has("docker_cert_path") && !b.Has("docker_host") {
		diags = append(diags, b.Error("docker_cert_path", "Option needs docker_host",
			`"docker_cert_path" is the TLS material of the engine "docker_host" names; set both (the environment's engine takes DOCKER_CERT_PATH).`))
	}
	if b.Has("docker_tls_verify") && !b.Has("docker_cert_path") {
		diags = append(diags, b.Error("docker_tls_verify", "Option needs docker_cert_path",
			`"docker_tls_verify" only applies to a TLS engine, one with "docker_cert_path".`))
	}
	if b.Known("docker_cert_path") && c.DockerCertPath != "" {
		for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
			if _, err := os.Stat(filepath.Join(c.DockerCertPath, f)); err != nil {
				diags = append(diags, b.Error("docker_cert_path", "Missing TLS file",
					fmt.Sprintf("%s: the directory must hold ca.pem, cert.pem and key.pem (%v).", c.DockerCertPath, err)))
				break
			}
		}
	}
	return diags
}

// endpoint is a resolved engine: its address, its TLS material and where
// the choice came from (for messages).
type endpoint struct {
	Host            string // "" for the client's default socket
	CA, Cert, Key   string // PEM files; TLS when Cert or CA is set
	TLS, SkipVerify bool
	From            string
}

// endpoint resolves the engine of c, reading the environment through
// getenv (os.Getenv for a build).
func (c *EngineConfig) endpoint(getenv func(string) string) (endpoint, error) {
	if c != nil && c.DockerHost != "" {
		ep := endpoint{Host: c.DockerHost, From: "docker_host"}
		if c.DockerCertPath != "" {
			ep.TLS = true
			ep.CA, ep.Cert, ep.Key = filepath.Join(c.DockerCertPath, "ca.pem"), filepath.Join(c.DockerCertPath, "cert.pem"), filepath.Join(c.DockerCertPath, "key.pem")
			ep.SkipVerify = c.DockerTLSVerify != nil && !*c.DockerTLSVerify
		}
		return ep, nil
	}
	if host := getenv("DOCKER_HOST"); host != "" {
		ep := endpoint{Host: host, From: "DOCKER_HOST"}
		certs := getenv("DOCKER_CERT_PATH")
		verify := getenv("DOCKER_TLS_VERIFY") != ""
		if certs == "" && verify {
			certs = dockerConfigDir(getenv)
		}
		if certs != "" {
			ep.TLS, ep.SkipVerify = true, !verify
			ep.CA, ep.Cert, ep.Key = filepath.Join(certs, "ca.pem"), filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem")
		}
		return ep, nil
	}
	name, from := getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	if name == "" {
		name, from = currentContext(getenv), "the docker config's currentContext"
	}
	if name == "" || name == "default" {
		return endpoint{From: "the default engine"}, nil
	}
	ep, err := contextEndpoint(dockerConfigDir(getenv), name)
	if err != nil {
		return endpoint{}, fmt.Errorf("docker context %q (%s): %w", name, from, err)
	}
	return ep, nil
}

// dockerConfigDir is $DOCKER_CONFIG, or ~/.docker.
func dockerConfigDir(getenv func(string) string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".docker")
}

// currentContext is the currentContext of the docker CLI's config.json,
// or "".
func currentContext(getenv func(string) string) string {
	b, err := os.ReadFile(filepath.Join(dockerConfigDir(getenv), "config.json"))
	if err != nil {
		return ""
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if json.Unmarshal(b, &cfg) != nil {
		return ""
	}
	return cfg.CurrentContext
}

// contextMeta is the part of a docker context's meta.json bake reads.
type contextMeta struct {
	Name      string `json:"Name"`
	Endpoints map[string]struct {
		Host          string `json:"Host"`
		SkipTLSVerify bool   `json:"SkipTLSVerify"`
	} `json:"Endpoints"`
}

// parseContextMeta reads a context's meta.json and returns its docker
// endpoint's address and SkipTLSVerify.
func parseContextMeta(b []byte, name string) (host string, skipVerify bool, err error) {
	var m contextMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return "", false, fmt.Errorf("meta.json: %w", err)
	}
	if m.Name != name {
		return "", false, fmt.Errorf("meta.json names the context %q", m.Name)
	}
	ep, ok := m.Endpoints["docker"]
	if !ok || ep.Host == "" {
		return "", false, errors.New("meta.json has no docker endpoint")
	}
	if _, err := client.ParseHostURL(ep.Host); err != nil {
		return "", false, fmt.Errorf("meta.json: docker endpoint %q: %w", ep.Host, err)
	}
	return ep.Host, ep.SkipTLSVerify, nil
}

// contextEndpoint reads the docker CLI's context store under dir: the
// context's meta.json and TLS files live in directories named by the
// sha256 of its name.
func contextEndpoint(dir, name string) (endpoint, error) {
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	b, err := os.ReadFile(filepath.Join(dir, "contexts", "meta", id, "meta.json"))
	if err != nil {
		return endpoint{}, fmt.Errorf("no such context (create it with docker context create): %w", err)
	}
	host, skip, err := parseContextMeta(b, name)
	if err != nil {
		return endpoint{}, err
	}
	ep := endpoint{Host: host, SkipVerify: skip, From: "docker context " + name}
	tlsDir := filepath.Join(dir, "contexts", "tls", id, "docker")
	for _, f := range []struct {
		name string
		dst  *string
	}{{"ca.pem", &ep.CA}, {"cert.pem", &ep.Cert}, {"key.pem", &ep.Key}} {
		p := filepath.Join(tlsDir, f.name)
		if _, err := os.Stat(p); err == nil {
			*f.dst = p
			ep.TLS = true
		}
	}
	if strings.HasPrefix(host, "ssh://") {
		return endpoint{}, fmt.Errorf("its endpoint %s is ssh://, which bake cannot tunnel; forward the socket and use tcp:// or unix://", host)
	}
	return ep, nil
}

// tlsConfig loads ep's TLS material.
func (ep endpoint) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: ep.SkipVerify}
	if ep.CA != "" {
		pem, err := os.ReadFile(ep.CA)
		if err != nil {
			return nil, fmt.Errorf("engine CA (%s): %w", ep.From, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("engine CA %s (%s) holds no PEM certificate", ep.CA, ep.From)
		}
		tc.RootCAs = pool
	}
	if ep.Cert != "" || ep.Key != "" {
		cert, err := tls.LoadX509KeyPair(ep.Cert, ep.Key)
		if err != nil {
			return nil, fmt.Errorf("engine client certificate (%s): %w", ep.From, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// newClient returns a client for ep, negotiating the API version so that
// older engines (API 1.41) are spoken to in their own version.
func (ep endpoint) newClient() (dockerAPI, error) {
	opts := []client.Opt{client.WithVersionFromEnv(), client.WithAPIVersionNegotiation()}
	if ep.TLS {
		tc, err := ep.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithHTTPClient(&http.Client{
			Transport:     &http.Transport{TLSClientConfig: tc},
			CheckRedirect: client.CheckRedirect,
		}))
	}
	if ep.Host != "" {
		opts = append(opts, client.WithHost(ep.Host))
	}
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s (%s): %w", ep.Host, ep.From, err)
	}
	return c, nil
}

// engineClient returns the function that makes clients for c's engine,
// resolved now from the environment bake was given.
func (c *EngineConfig) engineClient() func() (dockerAPI, error) {
	return func() (dockerAPI, error) {
		ep, err := c.endpoint(os.Getenv)
		if err != nil {
			return nil, err
		}
		return ep.newClient()
	}
}
