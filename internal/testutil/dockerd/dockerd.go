// Package dockerd starts a Docker engine of a test's own: a second
// dockerd with its own data root (so its own image store), reached over
// TCP with TLS, for tests that need two engines (two machines' stores).
package dockerd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// Client returns a client of the engine at host with the client
// certificate in certs, negotiating the API version.
func Client(host, certs string) (*client.Client, error) {
	return client.NewClientWithOpts(client.WithHost(host),
		client.WithTLSClientConfig(filepath.Join(certs, "ca.pem"), filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem")),
		client.WithAPIVersionNegotiation())
}

// Env is the environment that points the docker CLI, and bake, at the
// engine: DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.
func Env(host, certs string) []string {
	return []string{"DOCKER_HOST=" + host, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + certs, "DOCKER_CONTEXT="}
}

// CopyImage copies ref from the default engine to the one at host, as
// docker save | docker load.
func CopyImage(t *testing.T, ref, host, certs string) {
	t.Helper()
	save := exec.Command("docker", "save", ref)
	load := exec.Command("docker", "--host", host, "--tlsverify", "--tlscacert", filepath.Join(certs, "ca.pem"),
		"--tlscert", filepath.Join(certs, "cert.pem"), "--tlskey", filepath.Join(certs, "key.pem"), "load")
	pipe, err := save.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	load.Stdin = pipe
	var out strings.Builder
	load.Stdout, load.Stderr = &out, &out
	if err := save.Start(); err != nil {
		t.Fatal(err)
	}
	if err := load.Run(); err != nil {
		t.Fatalf("docker load into the engine at %s: %v\n%s", host, err, out.String())
	}
	if err := save.Wait(); err != nil {
		t.Fatalf("docker save %s: %v", ref, err)
	}
}

// TLSFiles makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, in the docker CLI's layout (ca.pem, cert.pem, key.pem for
// the client; server-cert.pem, server-key.pem for dockerd).
func TLSFiles(t *testing.T, dir string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	caKey := newKey()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bake test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, certName, keyName string) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		write(certName, "CERTIFICATE", der)
		write(keyName, "EC PRIVATE KEY", kder)
	}
	leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, "server-cert.pem", "server-key.pem")
	leaf(3, "bake", x509.ExtKeyUsageClientAuth, "cert.pem", "key.pem")
}

// Start starts a dockerd of the test's own on 127.0.0.1:<free
// port> with TLS (client certificates required), its own data, exec and
// pid paths and a bridge of its own without iptables rules, and stops it
// when the test ends. It returns
// its address and the directory of the client's TLS files.
func Start(t *testing.T) (host, certs string) {
	t.Helper()
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Fatalf("dockerd is not installed: run scripts/setup.sh")
	}
	// A short root: dockerd's containerd puts sockets under exec-root.
	dir, err := os.MkdirTemp("", "bkd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	hadDocker0 := exec.Command("ip", "link", "show", "docker0").Run() == nil
	t.Cleanup(func() {
		if hadDocker0 && exec.Command("ip", "link", "show", "docker0").Run() != nil {
			t.Errorf("the host's docker0 bridge is gone after the second engine ran")
		}
	})
	certs = filepath.Join(dir, "certs")
	os.Mkdir(certs, 0o700)
	TLSFiles(t, certs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o600)
	// A bridge of the engine's own. Not --bridge=none: a dockerd without a
	// bridge deletes the host's docker0, the main engine's bridge.
	bridge := "bkd" + filepath.Base(dir)[3:]
	if len(bridge) > 15 {
		bridge = bridge[:15]
	}
	subnet := fmt.Sprintf("10.213.%d.1/24", 1+os.Getpid()%250)
	for _, args := range [][]string{{"link", "add", bridge, "type", "bridge"}, {"addr", "add", subnet, "dev", bridge}, {"link", "set", bridge, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			exec.Command("ip", "link", "del", bridge).Run()
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "link", "del", bridge).CombinedOutput(); err != nil {
			t.Errorf("remove bridge %s: %v: %s", bridge, err, out)
		}
	})
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dockerd",
		"--config-file", filepath.Join(dir, "daemon.json"),
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"-H", "tcp://"+addr,
		"--tlsverify",
		"--tlscacert", filepath.Join(certs, "ca.pem"),
		"--tlscert", filepath.Join(certs, "server-cert.pem"),
		"--tlskey", filepath.Join(certs, "server-key.pem"),
		"--bridge="+bridge, "--iptables=false", "--ip-masq=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dockerd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		// dockerd unmounts its layers as it stops; anything left (a
		// crash) is unmounted before the directory goes.
		if out, err := exec.Command("sh", "-c", "grep -o ' "+dir+"[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l").CombinedOutput(); err != nil {
			t.Logf("unmount under %s: %v %s", dir, err, out)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	host = "tcp://" + addr
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("the second dockerd exited:\n%s", log)
		default:
		}
		api, err := Client(host, certs)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = api.Ping(ctx)
			cancel()
			api.Close()
			if err == nil {
				return host, certs
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Fatalf("the second dockerd did not answer in 90s: %v\n%s", err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
