package templates

import "github.com/agext/levenshtein"

// Suggest returns the candidate closest to given, or "" when none is close
// enough to be a likely typo.
func Suggest(given string, candidates []string) string {
	best, bestDist := "", 4
	for _, c := range candidates {
		d := levenshtein.Distance(given, c, nil)
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist > len(given)/2+1 && bestDist > 2 {
		return ""
	}
	return best
}
