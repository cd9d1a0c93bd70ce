// Package templates loads bake templates: Packer-compatible HCL2 (and its
// JSON form), split over one or more files.
//
// Load reads a file or a directory, resolves variables from every source
// in Packer's precedence order (default < PKR_VAR_/BAKE_VAR_ environment <
// *.auto.pkrvars.hcl < -var-file < -var), evaluates locals and data sources
// in dependency order, decodes every source, provisioner and post-processor
// block into the typed Config its Kind provides, and returns a Plan: the
// builds, each a list of build sources with the provisioners and
// post-processor chains that apply to them. Every problem found is returned
// as an hcl.Diagnostic pointing at the attribute at fault, all of them in
// one pass; WriteDiagnostics renders them with the source line.
//
// Values that only exist while a build runs (build.ID, build.Host, ...)
// are unknown at load time: configs that use them are decoded with those
// attributes marked unknown, and the engine re-decodes them with the real
// values through Plan.DecodeProvisioner and Plan.DecodePostProcessor.
//
// One difference from Packer, on purpose: a source block nested in a build
// block may set any attribute of the source it names, overriding the
// top-level source's value for that build only (Packer refuses this).
//
// The package knows no builder, provisioner or post-processor: the caller
// hands Load a Kinds table. It imports no other bake package.
package templates
