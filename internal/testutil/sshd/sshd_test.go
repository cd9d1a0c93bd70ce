package sshd_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/testutil/sshd"
)

func TestStartStop(t *testing.T) {
	a := sshd.Start(t, sshd.Options{})
	b := sshd.StartBastion(t)
	if a.Port == b.Port {
		t.Fatalf("two servers on port %d", a.Port)
	}
	for _, s := range []*sshd.Server{a, b} {
		c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || !strings.HasPrefix(line, "SSH-2.0-OpenSSH") {
			t.Errorf("%s: banner %q, %v", s.Addr(), line, err)
		}
	}
	if !strings.Contains(a.Log(), "Server listening on 127.0.0.1") {
		t.Errorf("log: %s", a.Log())
	}

	a.Stop()
	a.Stop() // idempotent
	if c, err := net.DialTimeout("tcp", a.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", a.Addr())
	}
}
