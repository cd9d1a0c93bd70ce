// Package kinds is the table of every block kind bake knows — sources,
// provisioners, post-processors and data sources — from kind name to the
// constructor of its typed config. The engine and the CLI hand this table
// to the template loader; there is no init() self-registration, so what
// exists is read in one place.
package kinds
