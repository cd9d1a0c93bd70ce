Managed by ${owner}.
%{ for p in packages ~}
- ${p}
%{ endfor ~}
