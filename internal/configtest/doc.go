// Package configtest runs table tests over the typed configs of block kinds:
// each case decodes a small HCL body with templates.Decode, runs Prepare and
// checks the diagnostics a user would see — their text and the line they
// point at. Tests of the builder, provisioner and post-processor packages
// share it so that every kind is checked the same way.
package configtest
