package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/bake-tool/bake/artifacts/registry"
	"github.com/bake-tool/bake/builder/amazon"
)

const pruneSynopsis = `REG/REPO -keep N [-key PUB] [-yes] [-dir DIR] [-endpoint URL] [-json]

Lists the versions of REG/REPO beyond the newest N that no channel points
at, with what they delivered: registry images by digest (and the
attestations attached to them), AMIs with their snapshots per region, disk
files. Revoked versions do not count among the N and are pruned too
(their revocation records stay). What a kept version also lists stays.
Nothing is removed without -yes, which needs -key: only what a verified
version lists is removed. A disk file is removed only while its sha256 is
the recorded one (relative paths are read from -dir); an AMI through the
EC2 API (standard AWS credentials, -endpoint for a custom one). A version
goes only once everything it lists is gone, so a failure keeps it for the
next prune. Each removal is printed as an audit line (-json: the whole
record).
Exit status: 0 listed or removed, 1 something stayed or failed, 2 usage.

Example:
  bake prune registry.example.com/golden/base -keep 10 -key release.pub
  bake prune registry.example.com/golden/base -keep 10 -key release.pub -yes -dir /srv/images`

func runPrune(ctx context.Context, env *cliEnv, args []string) int {
	c := newRegCmd(env, "prune", pruneSynopsis, "print the plan (or with -yes what was removed) as JSON").
		withKey("verify versions, channel records and revocations with this public key (`PUB`); required with -yes")
	keep := c.fs.Int("keep", 0, "keep the newest `N` versions (besides those channels point at)")
	yes := c.fs.Bool("yes", false, "remove what the plan lists (without it nothing is removed)")
	dir := c.fs.String("dir", "", "the `DIR` relative disk file paths of the manifests are read from (default: the working directory)")
	endpoint := c.fs.String("endpoint", "", "EC2 endpoint `URL` for AMIs (as custom_endpoint_ec2)")
	pos, code, ok := c.parse(args, 1)
	if !ok {
		return code
	}
	if *keep < 1 {
		return c.fail(exitUsage, errors.New("-keep N is required, at least 1"))
	}
	pub, err := c.pub()
	if err != nil {
		return c.fail(exitUsage, err)
	}
	if *yes && pub == nil {
		return c.fail(exitUsage, errors.New("-yes needs -key: prune removes only what verified versions list"))
	}
	repo, err := c.open(pos[0])
	if err != nil {
		return c.fail(exitUsage, err)
	}
	plan, err := repo.PlanPrune(ctx, registry.PruneOptions{Keep: *keep, Key: pub})
	if err != nil {
		return c.fail(exitFailed, err)
	}
	if !*yes {
		if c.json() {
			writeJSON(env.stdout, plan)
		} else {
			printPrunePlan(env, plan)
		}
		return exitOK
	}
	res, err := repo.Prune(ctx, plan, map[string]registry.Deleter{
		registry.KindImage: registry.ImageDeleter{Options: registryOptions()},
		registry.KindFile:  registry.FileDeleter{Dir: *dir},
		registry.KindAMI:   amiDeleter{amazon.NewAMIDeleter(*endpoint)},
	})
	if c.json() {
		writeJSON(env.stdout, res)
	} else if res != nil {
		printPruned(env, res)
	}
	if err != nil {
		return c.fail(exitFailed, err)
	}
	return exitOK
}

func printPrunePlan(env *cliEnv, plan *registry.PrunePlan) {
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tACTION\tWHY / ARTIFACTS")
	for _, k := range plan.Kept {
		fmt.Fprintf(tw, "%s\tkeep\t%s\n", k.Name, k.Reason)
	}
	for _, t := range plan.Prune {
		why := "beyond the newest"
		if t.Revoked {
			why = "revoked"
		}
		fmt.Fprintf(tw, "%s\tremove\t%s\n", t.Name, why)
		for _, a := range t.Artifacts {
			fmt.Fprintf(tw, "\t\t%s\n", describeDeliverable(a))
		}
	}
	tw.Flush()
	if len(plan.Prune) == 0 {
		fmt.Fprintln(env.stderr, "bake prune: nothing to remove")
		return
	}
	verified := ""
	if !plan.Verified {
		verified = " (unverified: give -key)"
	}
	fmt.Fprintf(env.stderr, "bake prune: %d version(s) would be removed%s; nothing was removed (add -yes)\n", len(plan.Prune), verified)
}

func describeDeliverable(d registry.Deliverable) string {
	switch d.Kind {
	case registry.KindAMI:
		return fmt.Sprintf("ami %s (%s)", d.Ref, d.Region)
	case registry.KindFile:
		return fmt.Sprintf("file %s sha256:%s", d.Ref, d.SHA256)
	}
	return d.Kind + " " + d.Ref
}

// printPruned writes one audit line per removal and per version.
func printPruned(env *cliEnv, res *registry.PruneResult) {
	at := res.Time.Format("2006-01-02T15:04:05Z")
	for _, v := range res.Versions {
		for _, rm := range v.Removed {
			what := "removed"
			if rm.Gone {
				what = "already gone"
			}
			also := ""
			if len(rm.Also) > 0 {
				also = " with " + strings.Join(rm.Also, ", ")
			}
			fmt.Fprintf(env.stdout, "%s prune %s@%s: %s %s%s\n", at, res.Repository, v.Name, what, describeDeliverable(rm.Deliverable), also)
		}
		if v.Deleted {
			fmt.Fprintf(env.stdout, "%s prune %s@%s: removed version (%s)\n", at, res.Repository, v.Name, v.Digest)
		} else {
			fmt.Fprintf(env.stdout, "%s prune %s@%s: KEPT: %s\n", at, res.Repository, v.Name, strings.Join(v.Errors, "; "))
		}
	}
}

// amiDeleter removes AMIs, with their snapshots, for bake prune.
type amiDeleter struct{ d *amazon.AMIDeleter }

func (a amiDeleter) Delete(ctx context.Context, d registry.Deliverable) (registry.Removal, error) {
	rm := registry.Removal{Deliverable: d}
	if d.Region == "" {
		return rm, fmt.Errorf("AMI %s has no region", d.Ref)
	}
	snaps, gone, err := a.d.DeleteAMI(ctx, d.Region, d.Ref)
	rm.Gone = gone
	for _, s := range snaps {
		rm.Also = append(rm.Also, "snapshot "+s)
	}
	return rm, err
}
