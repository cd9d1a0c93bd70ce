rule "builds-succeeded" {
  description = "every build succeeded"
  expr        = "builds.all(b, b.status == 'succeeded')"
}

rule "every-artifact-has-an-sbom" {
  expr = "builds.all(b, has(b.sbom) && b.sbom.sha256 in sboms.map(k, sboms[k].sha256))"
}

rule "no-denied-packages" {
  description = "no openssl older than 3.0.15, no telnetd at all"
  expr        = <<-CEL
    !packages.exists(p,
      (p.name == 'openssl' && deb_version_matches(p.version, '<< 3.0.15')) ||
      p.name == 'telnetd')
  CEL
}

rule "base-images-from-our-registry" {
  expr = "builds.all(b, !has(b.parent) || !has(b.parent.ref) || image_registry(b.parent.ref) in ['bake.local', '127.0.0.1:5000'])"
}

rule "clean-tree" {
  expr = "has(provenance.buildDefinition) && !provenance.buildDefinition.externalParameters.source.dirty"
}

rule "signed-recently" {
  expr = "signature.signed && now - signature.signedAt < duration('720h')"
}
