package docker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/dockerd"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
	"github.com/bake-tool/bake/internal/testutil/testenv"
	"github.com/bake-tool/bake/templates"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeContext makes a docker CLI context store entry under dir.
func writeContext(t *testing.T, dir, name, meta string, tlsFiles ...string) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	if err := os.MkdirAll(filepath.Join(dir, "contexts", "meta", id), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "contexts", "meta", id, "meta.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range tlsFiles {
		d := filepath.Join(dir, "contexts", "tls", id, "docker")
		os.MkdirAll(d, 0o700)
		os.WriteFile(filepath.Join(d, f), []byte("x"), 0o600)
	}
}

// TestEndpoint: docker_host wins, then DOCKER_HOST (with its TLS
// variables), then DOCKER_CONTEXT, then the config's currentContext, then
// the default socket, as the docker CLI chooses.
func TestEndpoint(t *testing.T) {
	cfgDir := t.TempDir()
	writeContext(t, cfgDir, "remote", `{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.0.0.7:2376","SkipTLSVerify":false}}}`, "ca.pem", "cert.pem", "key.pem")
	writeContext(t, cfgDir, "plain", `{"Name":"plain","Endpoints":{"docker":{"Host":"unix:///run/other.sock"}}}`)
	writeContext(t, cfgDir, "tunnel", `{"Name":"tunnel","Endpoints":{"docker":{"Host":"ssh://me@box"}}}`)
	f := false
	for _, tc := range []struct {
		name string
		cfg  EngineConfig
		env  map[string]string
		want endpoint
		err  string
	}{
		{name: "default", want: endpoint{From: "the default engine"}},
		{name: "docker_host plain", cfg: EngineConfig{DockerHost: "tcp://h:2375"}, env: map[string]string{"DOCKER_HOST": "unix:///x"},
			want: endpoint{Host: "tcp://h:2375", From: "docker_host"}},
		{name: "docker_host TLS", cfg: EngineConfig{DockerHost: "tcp://h:2376", DockerCertPath: "/c"},
			want: endpoint{Host: "tcp://h:2376", CA: "/c/ca.pem", Cert: "/c/cert.pem", Key: "/c/key.pem", TLS: true, From: "docker_host"}},
		{name: "docker_host TLS no verify", cfg: EngineConfig{DockerHost: "tcp://h:2376", DockerCertPath: "/c", DockerTLSVerify: &f},
			want: endpoint{Host: "tcp://h:2376", CA: "/c/ca.pem", Cert: "/c/cert.pem", Key: "/c/key.pem", TLS: true, SkipVerify: true, From: "docker_host"}},
		{name: "DOCKER_HOST over DOCKER_CONTEXT", env: map[string]string{"DOCKER_HOST": "tcp://e:2375", "DOCKER_CONTEXT": "remote", "DOCKER_CONFIG": cfgDir},
			want: endpoint{Host: "tcp://e:2375", From: "DOCKER_HOST"}},
		{name: "DOCKER_HOST TLS verify", env: map[string]string{"DOCKER_HOST": "tcp://e:2376", "DOCKER_CERT_PATH": "/p", "DOCKER_TLS_VERIFY": "1"},
			want: endpoint{Host: "tcp://e:2376", CA: "/p/ca.pem", Cert: "/p/cert.pem", Key: "/p/key.pem", TLS: true, From: "DOCKER_HOST"}},
		{name: "DOCKER_HOST TLS without verify", env: map[string]string{"DOCKER_HOST": "tcp://e:2376", "DOCKER_CERT_PATH": "/p"},
			want: endpoint{Host: "tcp://e:2376", CA: "/p/ca.pem", Cert: "/p/cert.pem", Key: "/p/key.pem", TLS: true, SkipVerify: true, From: "DOCKER_HOST"}},
		{name: "DOCKER_TLS_VERIFY alone uses the config dir", env: map[string]string{"DOCKER_HOST": "tcp://e:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CONFIG": "/d"},
			want: endpoint{Host: "tcp://e:2376", CA: "/d/ca.pem", Cert: "/d/cert.pem", Key: "/d/key.pem", TLS: true, From: "DOCKER_HOST"}},
		{name: "DOCKER_CONTEXT", env: map[string]string{"DOCKER_CONTEXT": "remote", "DOCKER_CONFIG": cfgDir},
			want: endpoint{Host: "tcp://10.0.0.7:2376", TLS: true, From: "docker context remote",
				CA:   filepath.Join(cfgDir, "contexts/tls", hexName("remote"), "docker/ca.pem"),
				Cert: filepath.Join(cfgDir, "contexts/tls", hexName("remote"), "docker/cert.pem"),
				Key:  filepath.Join(cfgDir, "contexts/tls", hexName("remote"), "docker/key.pem")}},
		{name: "DOCKER_CONTEXT default", env: map[string]string{"DOCKER_CONTEXT": "default", "DOCKER_CONFIG": cfgDir}, want: endpoint{From: "the default engine"}},
		{name: "DOCKER_CONTEXT missing", env: map[string]string{"DOCKER_CONTEXT": "nope", "DOCKER_CONFIG": cfgDir}, err: `docker context "nope" (DOCKER_CONTEXT): no such context`},
		{name: "DOCKER_CONTEXT ssh", env: map[string]string{"DOCKER_CONTEXT": "tunnel", "DOCKER_CONFIG": cfgDir}, err: "ssh://, which bake cannot tunnel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.endpoint(env(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("endpoint %+v, %v\nwant     %+v", got, err, tc.want)
			}
		})
	}

	// currentContext from config.json.
	os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"auths":{},"currentContext":"plain"}`), 0o600)
	got, err := (&EngineConfig{}).endpoint(env(map[string]string{"DOCKER_CONFIG": cfgDir}))
	if err != nil || got.Host != "unix:///run/other.sock" || got.TLS {
		t.Errorf("currentContext: %+v %v", got, err)
	}
}

func hexName(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestPrepareEngine(t *testing.T) {
	certs := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		os.WriteFile(filepath.Join(certs, f), nil, 0o600)
	}
	const src = "image = \"debian\"\ncommit = true\n"
	configtest.Run(t, "docker", func() templates.Config { return new(Config) }, []configtest.Case{
		{Name: "docker_host", Src: src + "docker_host = \"tcp://127.0.0.1:2376\"\ndocker_cert_path = \"" + certs + "\"\ndocker_tls_verify = true"},
		{Name: "unix socket", Src: src + "docker_host = \"unix:///var/run/docker.sock\""},
		{Src: src + "docker_host = \"127.0.0.1:2376\"", Want: `"127.0.0.1:2376" is not an engine address`, Line: 3},
		{Src: src + "docker_host = \"ssh://me@box\"", Want: "cannot tunnel it over ssh://", Line: 3},
		{Src: src + "docker_cert_path = \"" + certs + "\"", Want: `"docker_cert_path" is the TLS material of the engine "docker_host" names`, Line: 3},
		{Src: src + "docker_host = \"tcp://h:2376\"\ndocker_tls_verify = false", Want: `only applies to a TLS engine`, Line: 4},
		{Src: src + "docker_host = \"tcp://h:2376\"\ndocker_cert_path = \"/no/such/dir\"", Want: "must hold ca.pem, cert.pem and key.pem", Line: 4},
	})
}

func FuzzParseContextMeta(f *testing.F) {
	f.Add([]byte(`{"Name":"remote","Endpoints":{"docker":{"Host":"tcp://10.0.0.7:2376","SkipTLSVerify":true}}}`), "remote")
	f.Add([]byte(`{"Name":"x","Endpoints":{}}`), "x")
	f.Add([]byte(`{"Name":"x","Endpoints":{"docker":{"Host":"::"}}}`), "x")
	f.Add([]byte(`[`), "")
	f.Fuzz(func(t *testing.T, b []byte, name string) {
		host, _, err := parseContextMeta(b, name)
		if err == nil && host == "" {
			t.Fatalf("no error and no host for %q", b)
		}
	})
}

// TestTwoEngines builds testdata/docker/two-engines.pkr.hcl with bake
// build: one source on the local engine, one on a second dockerd reached
// over TCP with TLS (docker_host, docker_cert_path), both at once. Each
// image is on its own engine only, and holds what its provisioner wrote.
// A client without the certificate is refused by the second engine.
func TestTwoEngines(t *testing.T) {
	local := engine(t)
	host, certs := dockerd.Start(t)
	bin := bakebin.Path(t)

	// The base image goes to the second engine as docker save | load.
	dockerd.CopyImage(t, testenv.BaseImage(), host, certs)

	// Without a client certificate the engine refuses.
	plain := endpoint{Host: host, TLS: true, CA: filepath.Join(certs, "ca.pem"), From: "test"}
	if api, err := plain.newClient(); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := api.Ping(ctx)
		cancel()
		api.Close()
		if err == nil {
			t.Fatal("the second engine answered a client without a certificate")
		}
	}

	template, err := filepath.Abs("../../testdata/docker/two-engines.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	manifest := filepath.Join(dir, "m.json")
	cmd := exec.Command(bin, "build", "-color=false", "-no-cache", "-manifest", manifest,
		"-var", "image="+testenv.BaseImage(), "-var", "remote_host="+host, "-var", "remote_certs="+certs, template)
	// The environment names no engine, so the local source uses the
	// default socket and only docker_host leads elsewhere.
	cmd.Env = append(os.Environ(), "DOCKER_HOST=", "DOCKER_CONTEXT=", "DOCKER_CERT_PATH=", "DOCKER_TLS_VERIFY=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err = cmd.Run()
	t.Logf("bake build took %s:\n%s", time.Since(t0).Round(100*time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("bake build: %v", err)
	}
	ids := map[string]string{}
	for _, b := range manifesttest.Builds(t, manifest) {
		if b.Status != "succeeded" || len(b.Artifacts) == 0 {
			t.Fatalf("build %+v", b)
		}
		ids[b.Name] = strings.TrimPrefix(b.Artifacts[0].ExternalIdentifier, "docker:")
	}
	localID, remoteID := ids["docker.local"], ids["docker.remote"]
	if localID == "" || remoteID == "" {
		t.Fatalf("manifest builds %v", ids)
	}
	remoteEP := endpoint{Host: host, TLS: true, CA: filepath.Join(certs, "ca.pem"), Cert: filepath.Join(certs, "cert.pem"), Key: filepath.Join(certs, "key.pem"), From: "test"}
	remote, err := remoteEP.newClient()
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	ctx := context.Background()
	t.Cleanup(func() { local.ImageRemove(ctx, localID, image.RemoveOptions{Force: true, PruneChildren: true}) })
	for _, c := range []struct {
		api        dockerAPI
		what       string
		own, other string
		marker     string
	}{
		{local, "local", localID, remoteID, "built-on-local"},
		{remote, "remote", remoteID, localID, "built-on-remote"},
	} {
		if _, err := c.api.ImageInspect(ctx, c.own); err != nil {
			t.Errorf("%s engine lacks its image %s: %v", c.what, c.own, err)
		}
		if _, err := c.api.ImageInspect(ctx, c.other); err == nil {
			t.Errorf("%s engine holds the other engine's image %s", c.what, c.other)
		}
		got, err := exec.Command("sh", "-c", fmt.Sprintf("docker %s run --rm --network none %s cat /marker", dockerFlags(c.what, host, certs), c.own)).CombinedOutput()
		if err != nil || strings.TrimSpace(string(got)) != c.marker {
			t.Errorf("%s image's /marker reads %q (%v), want %s", c.what, got, err, c.marker)
		}
	}
}

func dockerFlags(which, host, certs string) string {
	if which == "local" {
		return ""
	}
	return fmt.Sprintf("--host %s --tlsverify --tlscacert %s/ca.pem --tlscert %s/cert.pem --tlskey %s/key.pem", host, certs, certs, certs)
}
