-- Argo CD health of an incident-operator Incident (sre.agentos.io/v1alpha1).
-- Progressing: the operator has not caught up yet, or the incident is open.
-- Degraded: the operator cannot reconcile it (Ready=False) or its notifications fail.
-- Healthy: resolved (Resolved, PostIncident or Closed).
-- Never errors: a partial object (no spec, no metadata, odd types) during a sync is
-- Progressing with what can be said of it.
local hs = {}
local metadata = obj.metadata or {}
local spec = obj.spec or {}
local status = obj.status
if type(status) ~= "table" or type(status.phase) ~= "string" then
  hs.status = "Progressing"
  hs.message = "Waiting for incident-operator to take up the incident"
  return hs
end
local generation = metadata.generation
if type(generation) == "number" and type(status.observedGeneration) == "number"
    and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for incident-operator to observe generation " .. generation
  return hs
end
local label = tostring(status.id or metadata.name or "?") .. " " .. tostring(spec.severity or "?")
  .. " " .. status.phase
if type(status.conditions) == "table" then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = label .. ": " .. tostring(condition.message or condition.reason or "not ready")
      return hs
    end
    if condition.type == "NotificationsFailing" and condition.status == "True" then
      hs.status = "Degraded"
      hs.message = label .. ": notifications failing: " .. tostring(condition.message or condition.reason or "")
      return hs
    end
  end
end
local phase = status.phase
if phase == "Resolved" or phase == "PostIncident" or phase == "Closed" then
  hs.status = "Healthy"
  hs.message = label
  return hs
end
hs.status = "Progressing"
hs.message = label .. " (open)"
return hs
