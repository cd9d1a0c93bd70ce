package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/artifacts"
)

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "release")
	code, out, errOut := bakeRun(t, nil, "keygen", "-out", name)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	fi, err := os.Stat(name + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, want 0600", fi.Mode().Perm())
	}
	priv, _ := os.ReadFile(name + ".key")
	pub, _ := os.ReadFile(name + ".pub")
	if !bytes.HasPrefix(priv, []byte("-----BEGIN PRIVATE KEY-----")) || !bytes.HasPrefix(pub, []byte("-----BEGIN PUBLIC KEY-----")) {
		t.Errorf("key files:\n%s\n%s", priv, pub)
	}
	assertNoSecrets(t, out+errOut, name+".key")

	// No overwrite without -force, flags in any order and with two dashes.
	code, _, errOut = bakeRun(t, nil, "keygen", "--out", name, "--type", "ed25519")
	if code != exitFailed || !strings.Contains(errOut, "already exists") {
		t.Errorf("overwrite: exit %d, %q", code, errOut)
	}
	if again, _ := os.ReadFile(name + ".key"); !bytes.Equal(again, priv) {
		t.Error("existing key changed")
	}
	code, _, errOut = bakeRun(t, nil, "keygen", "--out", name, "--type", "ed25519", "-force")
	if code != exitOK {
		t.Fatalf("-force: exit %d, %s", code, errOut)
	}
	s, err := loadSigner(name+".key", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Public().(ed25519.PublicKey); !ok {
		t.Errorf("-type ed25519 wrote a %T key", s.Public())
	}

	for _, args := range [][]string{
		{"keygen", "-type", "rsa"},
		{"keygen", "extra"},
		{"keygen", "-nope"},
	} {
		if code, _, _ := bakeRun(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestKeygenPasswordAndLoadSigner(t *testing.T) {
	const password = "s3cret-Passw0rd-for-test"
	dir := t.TempDir()
	name := filepath.Join(dir, "enc")
	env := []string{"BAKE_SIGN_PASSWORD=" + password}
	code, out, errOut := bakeRun(t, env, "keygen", "-password", "-out", name)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	priv, _ := os.ReadFile(name + ".key")
	if !bytes.HasPrefix(priv, []byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")) {
		t.Fatalf("not a cosign key:\n%s", priv)
	}
	var outputs strings.Builder
	outputs.WriteString(out + errOut)

	// The right password, from either variable.
	for _, environ := range [][]string{
		{"BAKE_SIGN_PASSWORD=" + password},
		{"COSIGN_PASSWORD=" + password},
		{"COSIGN_PASSWORD=wrong", "BAKE_SIGN_PASSWORD=" + password},
	} {
		if _, err := loadSigner(name+".key", environ); err != nil {
			t.Errorf("%v: %v", environ, err)
		}
	}
	// A wrong password: clear error, naming the variable, never the secret.
	_, err := loadSigner(name+".key", []string{"COSIGN_PASSWORD=hunter2-wrong"})
	if !errors.Is(err, artifacts.ErrWrongPassword) || !strings.Contains(err.Error(), "wrong password or corrupt key") ||
		!strings.Contains(err.Error(), "COSIGN_PASSWORD") {
		t.Errorf("wrong password: %v", err)
	}
	outputs.WriteString(err.Error())
	// No password at all.
	_, err = loadSigner(name+".key", nil)
	if !errors.Is(err, artifacts.ErrPasswordRequired) || !strings.Contains(err.Error(), "BAKE_SIGN_PASSWORD") {
		t.Errorf("no password: %v", err)
	}
	outputs.WriteString(err.Error())
	// -password without a password source and no terminal is a usage error.
	code, out, errOut = bakeRun(t, nil, "keygen", "-password", "-out", filepath.Join(dir, "x"))
	if code != exitUsage || !strings.Contains(errOut, "BAKE_SIGN_PASSWORD") {
		t.Errorf("-password without a source: exit %d, %q", code, errOut)
	}
	outputs.WriteString(out + errOut)
	assertNoSecrets(t, outputs.String(), name+".key", password, "hunter2-wrong")
}
