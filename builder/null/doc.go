// Package null is the null source: it builds nothing, only connects a
// communicator to a machine that already exists (or none), so that
// provisioners can run against it.
package null
