-- Argo CD health of an incident-operator EscalationPolicy (sre.agentos.io/v1alpha1).
-- Progressing: the operator has not read this generation yet.
-- Degraded: Ready=False (invalid spec), TemplatesValid=False (a template override
-- fails; the built-in one is used meanwhile), MetricsAvailable=False (detection
-- cannot measure what the policy watches) or RotationsValid=False (a rotation's time
-- zone is unknown, so who is on call cannot be worked out).
-- Healthy: Ready=True and none of the above.
-- Never errors: a partial object during a sync is Progressing.
local hs = {}
local metadata = obj.metadata or {}
local status = obj.status
if type(status) ~= "table" or type(status.conditions) ~= "table" then
  hs.status = "Progressing"
  hs.message = "Waiting for incident-operator to read the policy"
  return hs
end
local generation = metadata.generation
if type(generation) == "number" and (type(status.observedGeneration) ~= "number"
    or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for incident-operator to observe generation " .. generation
  return hs
end
local ready = nil
for _, condition in ipairs(status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  end
  local failing = (condition.type == "Ready" or condition.type == "TemplatesValid"
    or condition.type == "MetricsAvailable" or condition.type == "RotationsValid")
    and condition.status == "False"
  if failing then
    hs.status = "Degraded"
    hs.message = tostring(condition.type) .. ": " .. tostring(condition.message or condition.reason or "False")
    return hs
  end
end
if ready == nil or ready.status ~= "True" then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
hs.status = "Healthy"
hs.message = tostring(ready.message or "Ready")
return hs
