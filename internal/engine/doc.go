// Package engine turns a template's Plan into running builds: it makes one
// Job per build source, runs the jobs in parallel (bounded by
// -parallel-builds), drives each builder, its provisioners and its
// post-processor chains, turns everything that happens into redacted
// Events, and returns one Result per build for the run manifest.
//
// The engine never writes to the terminal; cmd/bake renders its events.
package engine
