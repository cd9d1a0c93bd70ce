// Package artifacts holds what builds produce: the Artifact type, the
// post-processors that transform artifacts, the run manifest with its
// signature and verification, and checksums.
package artifacts
