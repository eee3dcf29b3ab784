-- Argo CD health of a WorkflowRun (sharing.workflows.dev/v1alpha1), from the kstatus
-- conditions workflow-share writes. Generated layout: health.lua, health_test.yaml, testdata/.
local hs = { status = "Progressing", message = "Waiting for workflow-share" }
local function condition(t)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then
      return c
    end
  end
  return nil
end
local function says(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end
if obj.metadata.deletionTimestamp ~= nil then
  hs.message = "Deleting"
  return hs
end
-- workflow-share accepts or rejects a run; an executor runs it.
local phase = (obj.status ~= nil and obj.status.phase) or "Pending"
local reason = (obj.status ~= nil and obj.status.reason) or ""
if phase == "Succeeded" then
  hs.status = "Healthy"
elseif phase == "Rejected" or phase == "Failed" then
  hs.status = "Degraded"
end
hs.message = phase
if reason ~= "" then
  hs.message = phase .. ": " .. reason
end
return hs
