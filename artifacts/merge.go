package artifacts

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// MergedFromLabel is the label a merged run manifest lists its parts' run
// ids under (comma-separated, in the order given).
const MergedFromLabel = "bake.dev/merged-from"

// MergeOptions tune MergeRunManifests.
type MergeOptions struct {
	// RunID is the merged manifest's run id; "" derives one from the
	// parts' run ids ("merged-" and 16 hex digits).
	RunID string
}

// MergeRunManifests verifies each part (a run manifest bundle, as bake
// build -only wrote it on one CI shard) with pub and returns one
// statement listing every part's builds and subjects, for signing and
// publishing as one version. The parts must come from the same template
// (its sha256), bucket and variables, and no build may appear in two
// parts. The merged run's time is the earliest part's.
func MergeRunManifests(parts [][]byte, pub crypto.PublicKey, opts MergeOptions) (*Statement, error) {
	if len(parts) < 2 {
		return nil, errors.New("merge needs at least two run manifests")
	}
	var sts []*Statement
	for i, b := range parts {
		v, err := Verify(b, pub, VerifyOptions{})
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", i+1, err)
		}
		sts = append(sts, v.Statement)
	}
	first := sts[0].Predicate
	merged := *first
	merged.Builds = nil
	merged.Labels = map[string]string{}
	for k, v := range first.Labels {
		merged.Labels[k] = v
	}
	out := &Statement{Type: StatementType, Subject: []Subject{}, PredicateType: PredicateTypeV1, Predicate: &merged}
	buildPart := map[string]int{}
	seen := map[subjectKey]bool{}
	var ids []string
	for i, st := range sts {
		p := st.Predicate
		switch {
		case p.Template.SHA256 != first.Template.SHA256:
			return nil, fmt.Errorf("part %d (run %s) was built from another template (sha256 %s, part 1 has %s)", i+1, p.Fingerprint, p.Template.SHA256, first.Template.SHA256)
		case p.Bucket != first.Bucket:
			return nil, fmt.Errorf("part %d (run %s) is of bucket %q, part 1 of %q", i+1, p.Fingerprint, p.Bucket, first.Bucket)
		case !reflect.DeepEqual(p.Variables, first.Variables):
			return nil, fmt.Errorf("part %d (run %s) was built with other variables than part 1", i+1, p.Fingerprint)
		}
		for k, v := range p.Labels {
			if old, ok := merged.Labels[k]; ok && old != v {
				return nil, fmt.Errorf("part %d (run %s): label %q is %q, part 1 has %q", i+1, p.Fingerprint, k, v, old)
			}
			merged.Labels[k] = v
		}
		if p.CreatedAt.Before(merged.CreatedAt) {
			merged.CreatedAt = p.CreatedAt
		}
		ids = append(ids, p.Fingerprint)
		for _, b := range p.Builds {
			if j, dup := buildPart[b.Name]; dup {
				return nil, fmt.Errorf("build %s is in part %d and part %d: shards must not overlap", b.Name, j+1, i+1)
			}
			buildPart[b.Name] = i
			merged.Builds = append(merged.Builds, b)
		}
		for _, s := range st.Subject {
			k := subjectKey{s.Name, s.Digest["sha256"]}
			if !seen[k] {
				seen[k] = true
				out.Subject = append(out.Subject, s)
			}
		}
	}
	sort.SliceStable(merged.Builds, func(i, j int) bool { return merged.Builds[i].Name < merged.Builds[j].Name })
	merged.Labels[MergedFromLabel] = strings.Join(ids, ",")
	merged.Fingerprint = opts.RunID
	if merged.Fingerprint == "" {
		sorted := append([]string(nil), ids...)
		sort.Strings(sorted)
		sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
		merged.Fingerprint = "merged-" + hex.EncodeToString(sum[:8])
	}
	// A round trip through JSON keeps the merged statement independent of
	// the parts' maps and slices.
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("marshal merged manifest: %w", err)
	}
	var st Statement
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("merged manifest: %w", err)
	}
	return &st, nil
}
