package docker

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/internal/testutil/testenv"
	"github.com/bake-tool/bake/provisioners"
)

// buildImage commits a small image for the post-processor tests.
func buildImage(ctx context.Context, t *testing.T, api dockerAPI, runID string) *artifacts.Artifact {
	t.Helper()
	cfg := testConfig()
	cfg.Commit = true
	art, err := New(cfg, testOptions(runID, "pp")).Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		return comm.Upload(ctx, "/etc/marker", strings.NewReader(runID), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	removeImageAtEnd(t, api, art.ID)
	return art
}

func newPP(t *testing.T, kind string, cfg any) artifacts.PostProcessor {
	t.Helper()
	var pp artifacts.PostProcessor
	var err error
	switch c := cfg.(type) {
	case *TagConfig:
		pp, err = NewPostProcessor(kind, c, provisioners.BuildInfo{})
	case *PushConfig:
		pp, err = NewPostProcessor(kind, c, provisioners.BuildInfo{})
	case *SaveConfig:
		pp, err = NewPostProcessor(kind, c, provisioners.BuildInfo{})
	case *ImportConfig:
		pp, err = NewPostProcessor(kind, c, provisioners.BuildInfo{Name: "docker.pp"})
	}
	if err != nil {
		t.Fatal(err)
	}
	return pp
}

// TestTagPushPullByDigest: docker-tag then docker-push to the local
// registry records the manifest digest, and pulling by that digest gives
// the same image.
func TestTagPushPullByDigest(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	art := buildImage(ctx, t, api, runID)
	repo := testenv.RegistryAddr() + "/bake-test/" + runID

	tagged, keep, err := newPP(t, KindTag, &TagConfig{Repository: repo, Tags: []string{"v1", "latest"}}).PostProcess(ctx, newUI(t), art)
	if err != nil {
		t.Fatal(err)
	}
	if !keep || tagged.ID != art.ID {
		t.Errorf("docker-tag: keep %v, id %s", keep, tagged.ID)
	}
	if got := tagged.Items[0].Tags; len(got) != 2 || got[0] != repo+":v1" || got[1] != repo+":latest" {
		t.Errorf("tags = %q", got)
	}
	if insp, err := api.ImageInspect(ctx, repo+":v1"); err != nil || insp.ID != art.ID {
		t.Fatalf("tag %s: %v", repo+":v1", err)
	}

	pushed, keep, err := newPP(t, KindPush, &PushConfig{}).PostProcess(ctx, newUI(t), tagged)
	if err != nil {
		t.Fatal(err)
	}
	if keep {
		t.Error("docker-push forces keeping its input")
	}
	if len(pushed.Items) != 1 {
		t.Fatalf("pushed items = %+v", pushed.Items)
	}
	it := pushed.Items[0]
	if !strings.HasPrefix(it.Digest, "sha256:") || it.Digest == art.ID || it.URI != repo+"@"+it.Digest ||
		it.ExternalIdentifier != art.ID || it.MediaType == "" || len(it.Tags) != 2 {
		t.Errorf("pushed item = %+v", it)
	}
	t.Logf("pushed %s (%s)", it.URI, it.MediaType)

	// Destroying the docker-tag artifact removes its tags but one, which
	// is the image's last name: the image belongs to the build's artifact.
	if err := tagged.Destroy(ctx); err != nil {
		t.Fatalf("remove the tags: %v", err)
	}
	if insp, err := api.ImageInspect(ctx, art.ID); err != nil || len(insp.RepoTags) != 1 {
		t.Errorf("after the docker-tag artifact's Destroy: tags %q, %v", insp.RepoTags, err)
	}
	// Remove the image altogether, then pull it back by digest.
	if err := art.Destroy(ctx); err != nil {
		t.Fatalf("remove the image: %v", err)
	}
	if _, err := api.ImageInspect(ctx, art.ID); err == nil {
		t.Fatal("the image is still there")
	}
	rc, err := api.ImagePull(ctx, it.URI, image.PullOptions{})
	if err == nil {
		err = readProgress(rc, nil)
		rc.Close()
	}
	if err != nil {
		t.Fatalf("pull %s: %v", it.URI, err)
	}
	removeImageAtEnd(t, api, it.URI)
	insp, err := api.ImageInspect(ctx, it.URI)
	if err != nil {
		t.Fatal(err)
	}
	if insp.ID != art.ID {
		t.Errorf("pulled by digest: image %s, built %s", insp.ID, art.ID)
	}
}

// TestPushRefused: a push the registry refuses (or that reaches no
// registry) fails with the registry's reason.
func TestPushRefused(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	art := buildImage(ctx, t, api, runID)

	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}()
	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Basic realm="bake-test"`)
			}
			http.Error(w, `{"errors":[{"code":"DENIED","message":"refused by the test registry"}]}`, code)
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	for name, host := range map[string]string{
		"closed port":  closed,
		"unauthorized": status(http.StatusUnauthorized),
		"forbidden":    status(http.StatusForbidden),
	} {
		t.Run(name, func(t *testing.T) {
			repo := host + "/bake-test/refused"
			tagged, _, err := newPP(t, KindTag, &TagConfig{Repository: repo, Tags: []string{"x"}}).PostProcess(ctx, newUI(t), art)
			if err != nil {
				t.Fatal(err)
			}
			defer tagged.Destroy(context.Background())
			_, _, err = newPP(t, KindPush, &PushConfig{}).PostProcess(ctx, newUI(t), tagged)
			if err == nil {
				t.Fatal("push succeeded")
			}
			if !strings.Contains(err.Error(), "push "+repo+":x") {
				t.Errorf("error %q does not name the tag", err)
			}
			t.Log(err)
		})
	}

	// An image without tags cannot be pushed.
	if _, _, err := newPP(t, KindPush, &PushConfig{}).PostProcess(ctx, newUI(t), art); err == nil || !strings.Contains(err.Error(), "docker-tag") {
		t.Errorf("untagged push: %v", err)
	}
}

// authProxy serves the local registry behind HTTP basic auth.
func authProxy(t *testing.T, user, password string) string {
	t.Helper()
	target, _ := url.Parse("http://" + testenv.RegistryAddr())
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="bake-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestLogin: the login options authenticate docker-push and the
// builder's pull against a registry that requires them.
func TestLogin(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	art := buildImage(ctx, t, api, runID)
	host := authProxy(t, "bake", "s3cret")
	repo := host + "/bake-test/login-" + runID

	tagged, _, err := newPP(t, KindTag, &TagConfig{Repository: repo, Tags: []string{"v1"}}).PostProcess(ctx, newUI(t), art)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := newPP(t, KindPush, &PushConfig{}).PostProcess(ctx, newUI(t), tagged); err == nil {
		t.Fatal("push without login succeeded")
	}
	_, _, err = newPP(t, KindPush, &PushConfig{LoginConfig{Login: true, LoginServer: host, LoginUsername: "bake", LoginPassword: "s3cret"}}).PostProcess(ctx, newUI(t), tagged)
	if err != nil {
		t.Fatalf("push with login: %v", err)
	}
	if err := tagged.Destroy(ctx); err != nil {
		t.Fatal(err)
	}

	cfg := testConfig()
	cfg.Image = repo + ":v1"
	cfg.Pull = ptr(true)
	cfg.Discard = true
	removeImageAtEnd(t, api, cfg.Image)
	if _, err := New(cfg, testOptions(runID, "nologin")).Build(ctx, newUI(t), nil); err == nil || !strings.Contains(err.Error(), "pull image") {
		t.Errorf("pull without login: %v", err)
	}
	cfg.Login, cfg.LoginServer, cfg.LoginUsername, cfg.LoginPassword = true, host, "bake", "s3cret"
	if _, err := New(cfg, testOptions(runID, "login")).Build(ctx, newUI(t), nil); err != nil {
		t.Errorf("pull with login: %v", err)
	}
	// Credentials are not sent to another registry than login_server.
	cfg.LoginServer = "registry.example.com"
	if _, err := New(cfg, testOptions(runID, "otherserver")).Build(ctx, newUI(t), nil); err != nil && !strings.Contains(err.Error(), "pull image") {
		t.Errorf("pull with another server's login: %v", err)
	}
}

// TestSaveAndImport: docker-save writes a loadable tar atomically;
// docker-import makes an image of an export_path tar.
func TestSaveAndImport(t *testing.T) {
	api := engine(t)
	ctx := testContext(t)
	runID := newRunID(t, api)
	art := buildImage(ctx, t, api, runID)
	dir := t.TempDir()

	saved, _, err := newPP(t, KindSave, &SaveConfig{Path: filepath.Join(dir, "image.tar")}).PostProcess(ctx, newUI(t), art)
	if err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, saved.Items[0].Path)
	if !names["manifest.json"] {
		t.Errorf("saved tar lacks manifest.json: %v", names)
	}
	if saved.Items[0].Size == 0 || !strings.HasPrefix(saved.Items[0].Digest, "sha256:") {
		t.Errorf("saved item = %+v", saved.Items[0])
	}
	// An existing path is refused without -force, as export_path is, and
	// left as it was; -force replaces it.
	tarPath := saved.Items[0].Path
	if err := os.WriteFile(tarPath, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = newPP(t, KindSave, &SaveConfig{Path: tarPath}).PostProcess(ctx, newUI(t), art)
	if err == nil || !strings.Contains(err.Error(), tarPath+" already exists") || !strings.Contains(err.Error(), "-force") {
		t.Errorf("docker-save over an existing file without -force: err = %v, want it refused naming the path and -force", err)
	}
	if b, _ := os.ReadFile(tarPath); string(b) != "mine" {
		t.Errorf("the refused docker-save changed %s: it holds %d bytes", tarPath, len(b))
	}
	forced, err := NewPostProcessor(KindSave, &SaveConfig{Path: tarPath}, provisioners.BuildInfo{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := forced.PostProcess(ctx, newUI(t), art)
	if err != nil {
		t.Fatalf("docker-save with -force over an existing file: %v", err)
	}
	if !tarNames(t, tarPath)["manifest.json"] || again.Items[0].Path != tarPath {
		t.Errorf("docker-save with -force: %s is not the image's tar (artifact %+v)", tarPath, again.Items[0])
	}
	if _, _, err := newPP(t, KindSave, &SaveConfig{Path: filepath.Join(dir, "x.tar")}).PostProcess(ctx, newUI(t), saved); err == nil {
		t.Error("docker-save of a file artifact succeeded")
	}

	// Export a container, then import it.
	cfg := testConfig()
	cfg.ExportPath = filepath.Join(dir, "rootfs.tar")
	exported, err := New(cfg, testOptions(runID, "export")).Build(ctx, newUI(t), func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		return comm.Upload(ctx, "/etc/imported", strings.NewReader("imported\n"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	repo := "bake.local/test-import-" + runID
	imported, _, err := newPP(t, KindImport, &ImportConfig{Repository: repo, Tag: "v1", Changes: []string{`CMD ["cat", "/etc/imported"]`}}).PostProcess(ctx, newUI(t), exported)
	if err != nil {
		t.Fatal(err)
	}
	removeImageAtEnd(t, api, imported.ID)
	if imported.Items[0].Tags[0] != repo+":v1" || !strings.HasPrefix(imported.ID, "sha256:") {
		t.Errorf("imported = %+v", imported)
	}
	if out := runImage(ctx, t, api, runID, repo+":v1"); out != "imported\n" {
		t.Errorf("the imported image printed %q", out)
	}
	if err := imported.Destroy(ctx); err != nil {
		t.Error(err)
	}
	if _, err := api.ImageInspect(ctx, imported.ID); err == nil {
		t.Error("Destroy left the imported image")
	}
	if err := exported.Destroy(ctx); err != nil || fileExists(cfg.ExportPath) {
		t.Errorf("Destroy of the export: %v", err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, os.ErrNotExist)
}

func tarNames(t *testing.T, p string) map[string]bool {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
}
