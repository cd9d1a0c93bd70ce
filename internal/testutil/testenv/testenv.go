// Package testenv names what scripts/setup.sh provides for the tests (the
// Docker engine and its base images, the loopback registry) and fails a
// test, saying how to set it up, when one of them is missing. Each can be
// pointed elsewhere through its environment variable.
package testenv

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// BaseImage is the Debian image the docker tests build on
// ($BAKE_BASE_IMAGE).
func BaseImage() string { return env("BAKE_BASE_IMAGE", "bake.local/debian:bookworm") }

// AnsibleImage is BaseImage with python3, sudo and ansible-core
// ($BAKE_ANSIBLE_IMAGE).
func AnsibleImage() string { return env("BAKE_ANSIBLE_IMAGE", "bake.local/debian-ansible:bookworm") }

// RegistryAddr is the host:port of the loopback registry
// ($BAKE_TEST_REGISTRY).
func RegistryAddr() string { return env("BAKE_TEST_REGISTRY", "127.0.0.1:5000") }

func env(name, def string) string {
	if s := os.Getenv(name); s != "" {
		return s
	}
	return def
}

// Registry returns RegistryAddr, failing t when the registry does not
// answer.
func Registry(t testing.TB) string {
	t.Helper()
	addr := RegistryAddr()
	resp, err := http.Get("http://" + addr + "/v2/")
	if err != nil {
		t.Fatalf("the test registry at %s does not answer (start it with scripts/setup.sh): %v", addr, err)
	}
	resp.Body.Close()
	return addr
}

// Docker returns a client of the engine the environment names, closed
// when t ends, failing t when the engine does not answer or one of
// images is not in its store.
func Docker(t testing.TB, images ...string) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Fatalf("no Docker engine: run scripts/setup.sh first (%v)", err)
	}
	for _, img := range images {
		if _, err := cli.ImageInspect(ctx, img); err != nil {
			t.Fatalf("image %s: %v (run scripts/setup.sh)", img, err)
		}
	}
	return cli
}
