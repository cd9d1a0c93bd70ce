// Package sbom turns the package inventory of a machine into an SPDX 2.3
// JSON software bill of materials and into an in-toto statement about the
// artifacts made from that machine.
//
// Facts in, documents out: the engine runs Script through a build's
// communicator after the provisioners and hands the output to
// ParseInventory; the command line writes the document (Document) and
// signs its statement (Statement). Nothing here imports a builder.
//
// SPDX 2.3 rather than CycloneDX: cosign's `--type spdxjson` names it,
// Debian's own tooling and the Linux Foundation's SBOM work speak SPDX,
// and github.com/spdx/tools-golang types every field of the 2.3 document,
// so what bake writes is what the SPDX reader of that library accepts.
package sbom
