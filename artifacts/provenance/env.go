package provenance

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
)

// ReadGit describes the git checkout dir is in with the system git, or
// returns nil when dir is in none (or git is not installed). The remote
// URL is origin's, with any user name or password taken out.
func ReadGit(ctx context.Context, dir string) (*Git, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, nil
	}
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(out.String()), nil
	}
	if inside, err := run("rev-parse", "--is-inside-work-tree"); err != nil || inside != "true" {
		return nil, nil
	}
	commit, err := run("rev-parse", "HEAD")
	if err != nil {
		// A repository without commits: nothing to point at.
		return nil, nil
	}
	g := &Git{Commit: commit}
	status, err := run("status", "--porcelain", "--untracked-files=normal")
	if err != nil {
		return nil, err
	}
	g.Dirty = status != ""
	if u, err := run("config", "--get", "remote.origin.url"); err == nil {
		g.URL = RedactURL(u)
	}
	if s, err := run("log", "-1", "--format=%s"); err == nil {
		g.Subject = s
	}
	return g, nil
}

// RedactURL takes the user name and password out of a URL ("https://
// user:token@host/x" gives "https://host/x"); a scp-like address
// (git@host:x) is kept as it is, since its user is no secret.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return s
	}
	u.User = nil
	return u.String()
}

// ReadAudit returns who runs bake and where, from the environment and
// the host name: the user (USER, LOGNAME), and the CI job when the
// environment is GitHub Actions' or GitLab CI's. reason is -reason; when
// empty, gitSubject (the commit's subject) stands for it.
func ReadAudit(getenv func(string) string, host, reason, gitSubject string) Audit {
	a := Audit{User: firstNonEmpty(getenv("USER"), getenv("LOGNAME")), Host: host}
	switch {
	case getenv("GITHUB_ACTIONS") == "true":
		ci := &CI{System: "github-actions", Actor: getenv("GITHUB_ACTOR"), Ref: getenv("GITHUB_REF"), Commit: getenv("GITHUB_SHA")}
		if srv, repo, id := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID"); srv != "" && repo != "" && id != "" {
			ci.JobURL = strings.TrimSuffix(srv, "/") + "/" + repo + "/actions/runs/" + id
			if att := getenv("GITHUB_RUN_ATTEMPT"); att != "" {
				ci.JobURL += "/attempts/" + att
			}
		}
		a.CI = ci
	case getenv("GITLAB_CI") == "true":
		a.CI = &CI{System: "gitlab-ci", JobURL: RedactURL(getenv("CI_JOB_URL")), Actor: getenv("GITLAB_USER_LOGIN"),
			Ref: getenv("CI_COMMIT_REF_NAME"), Commit: getenv("CI_COMMIT_SHA")}
	case getenv("CI") == "true":
		a.CI = &CI{System: "unknown"}
	}
	if a.CI != nil && a.User == "" {
		a.User = a.CI.Actor
	}
	switch {
	case reason != "":
		a.Reason, a.ReasonSource = reason, "flag"
	case gitSubject != "":
		a.Reason, a.ReasonSource = gitSubject, "git-commit"
	}
	return a
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
