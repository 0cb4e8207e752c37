-- Argo CD health of an incident-operator Incident (sre.agentos.io/v1alpha1).
-- Progressing: the operator has not caught up yet, or the incident is open.
-- Degraded: the operator cannot reconcile it (Ready=False) or its notifications fail.
-- Healthy: resolved (Resolved, PostIncident or Closed).
local hs = {}
local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for incident-operator to take up the incident"
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for incident-operator to observe generation " .. generation
  return hs
end
local label = (status.id or obj.metadata.name) .. " " .. (obj.spec.severity or "?") .. " " .. status.phase
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = label .. ": " .. (condition.message or condition.reason or "not ready")
      return hs
    end
    if condition.type == "NotificationsFailing" and condition.status == "True" then
      hs.status = "Degraded"
      hs.message = label .. ": notifications failing: " .. (condition.message or condition.reason or "")
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
