-- Argo CD health of a SharedWorkflow (sharing.workflows.dev/v1alpha1), from the kstatus
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
-- A library entry kept by workflow-share: it has no status of its own.
hs.status = "Healthy"
hs.message = "Shared by " .. ((obj.spec ~= nil and obj.spec.sharedBy) or "an unknown user")
return hs
