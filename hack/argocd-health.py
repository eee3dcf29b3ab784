#!/usr/bin/env python3
# Writes the Argo CD health checks under charts/workflow-share/argocd/ (health.lua,
# health_test.yaml, testdata/) for every kind from one template: Argo CD needs one
# self-contained script per kind, so the common part repeats in each file. Edit here,
# then run: python3 hack/argocd-health.py (needs PyYAML). tests/argocd_health.rs runs them.
import os, textwrap, json
root=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'charts/workflow-share/argocd/sharing.workflows.dev')
CORE_HEAD='''-- Argo CD health of a {kind} (sharing.workflows.dev/v1alpha1), from the kstatus
-- conditions workflow-share writes. Generated layout: health.lua, health_test.yaml, testdata/.
local hs = {{ status = "Progressing", message = "Waiting for workflow-share" }}
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
'''
CORE_TAIL='''if obj.status == nil then
  return hs
end
if obj.status.observedGeneration ~= nil and obj.metadata.generation ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.message = "workflow-share has not seen the latest change yet"
  return hs
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = says(stalled)
  return hs
end
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = says(reconciling)
  return hs
end
local ready = condition("Ready")
if ready == nil then
  return hs
end
{ready}if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" then
  hs.status = "Degraded"
end
hs.message = says(ready)
return hs
'''
SHARE_READY='''-- Archived or waiting for a namespace or workflow to appear: not a failure.
if ready.reason == "WorkflowArchived" then
  hs.status = "Suspended"
  hs.message = says(ready)
  return hs
end
if ready.status == "False" and (ready.reason == "TargetsPending" or ready.reason == "WorkflowNotFound"
    or ready.reason == "ObjectNotFound") then
  hs.message = says(ready)
  return hs
end
'''
EARLY={
 'Workflow':'''if obj.spec ~= nil and obj.spec.archived == true then
  hs.status = "Suspended"
  hs.message = "Archived: withdrawn from every recipient until restored"
  return hs
end
''',
 'Trigger':'''if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended: no new fires"
  return hs
end
''',
 'SharedWorkflow':'''-- A library entry kept by workflow-share: it has no status of its own.
hs.status = "Healthy"
hs.message = "Shared by " .. ((obj.spec ~= nil and obj.spec.sharedBy) or "an unknown user")
return hs
''',
 'WorkflowRun':'''-- workflow-share accepts or rejects a run; an executor runs it.
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
''',
}
def cond(t,s,r,m=""):
    return {"type":t,"status":s,"reason":r,"message":m,"observedGeneration":1}
def meta(extra=None):
    m={"name":"x","namespace":"sales","generation":1}
    if extra: m.update(extra)
    return m
def conds(ready, rs, msg="", stalled=("False","Reconciled"), reconciling=("False","Reconciled")):
    return [cond("Ready",ready,rs,msg),cond("Reconciling",reconciling[0],reconciling[1]),cond("Stalled",stalled[0],stalled[1], msg if stalled[0]=="True" else "")]
cases={
 'WorkflowShare':[
   ('healthy', {"status":{"observedGeneration":1,"conditions":conds("True","Granted","2 workspace(s) granted")}}, "Healthy","Granted: 2 workspace(s) granted"),
   ('archived', {"status":{"observedGeneration":1,"conditions":conds("True","WorkflowArchived","the workflow is archived; grants are suspended")}}, "Suspended","WorkflowArchived: the workflow is archived; grants are suspended"),
   ('pending', {"status":{"observedGeneration":1,"conditions":conds("False","TargetsPending","1 target(s) pending; see status.grants")}}, "Progressing","TargetsPending: 1 target(s) pending; see status.grants"),
   ('rejected', {"status":{"observedGeneration":1,"conditions":conds("False","TargetsRejected","1 target(s) rejected; see status.grants",stalled=("True","TargetsRejected"))}}, "Degraded","TargetsRejected: 1 target(s) rejected; see status.grants"),
   ('new-generation', {"metadata":meta({"generation":2}),"status":{"observedGeneration":1,"conditions":conds("True","Granted","2 workspace(s) granted")}}, "Progressing","workflow-share has not seen the latest change yet"),
   ('no-status', {}, "Progressing","Waiting for workflow-share"),
 ],
 'Workflow':[
   ('healthy', {"spec":{"displayName":"x"},"status":{"observedGeneration":1,"conditions":[cond("Ready","True","Reconciled")]}}, "Healthy","Reconciled"),
   ('archived', {"spec":{"displayName":"x","archived":True},"status":{"observedGeneration":1,"conditions":[cond("Ready","True","Reconciled")]}}, "Suspended","Archived: withdrawn from every recipient until restored"),
 ],
 'SharedWorkflow':[
   ('entry', {"spec":{"sharedBy":"alice"}}, "Healthy","Shared by alice"),
 ],
 'WorkflowClone':[
   ('cloned', {"status":{"observedGeneration":1,"conditions":[cond("Ready","True","Cloned"),cond("Stalled","False","Cloned")]}}, "Healthy","Cloned"),
   ('refused', {"status":{"observedGeneration":1,"conditions":[cond("Ready","False","RunAccessOnly","the share gives Run access only"),cond("Stalled","True","RunAccessOnly","the share gives Run access only")]}}, "Degraded","RunAccessOnly: the share gives Run access only"),
 ],
 'Organization':[
   ('healthy', {"metadata":{"name":"acme","generation":1},"status":{"observedGeneration":1,"conditions":[cond("Ready","True","WorkspacesListed","3 workspace(s)")]}}, "Healthy","WorkspacesListed: 3 workspace(s)"),
   ('conflict', {"metadata":{"name":"acme","generation":1},"status":{"observedGeneration":1,"conditions":[cond("Ready","False","Conflict","RoleBindings exist and are not managed by workflow-share: sales/x")]}}, "Degraded","Conflict: RoleBindings exist and are not managed by workflow-share: sales/x"),
 ],
 'Project':[
   ('healthy', {"status":{"observedGeneration":1,"tier":"Shared","conditions":[cond("Ready","True","Reconciled")]}}, "Healthy","Reconciled"),
 ],
 'ProjectShare':[
   ('healthy', {"status":{"observedGeneration":1,"conditions":conds("True","Granted","1 workspace(s) granted")}}, "Healthy","Granted: 1 workspace(s) granted"),
   ('not-allowed', {"status":{"observedGeneration":1,"conditions":conds("False","SharerNotAllowed","grace may not share project x (any more)")}}, "Degraded","SharerNotAllowed: grace may not share project x (any more)"),
 ],
 'Trigger':[
   ('scheduled', {"spec":{"type":"Schedule"},"status":{"observedGeneration":1,"conditions":conds("True","Scheduled","next fire at 2026-11-23T15:48:00Z")}}, "Healthy","Scheduled: next fire at 2026-11-23T15:48:00Z"),
   ('refused', {"spec":{"type":"Schedule"},"status":{"observedGeneration":1,"conditions":conds("False","CreatorMayNotRun","the fire was refused")}}, "Degraded","CreatorMayNotRun: the fire was refused"),
   ('invalid', {"spec":{"type":"Schedule"},"status":{"observedGeneration":1,"conditions":conds("False","InvalidSchedule","spec.schedule.cron: bad",stalled=("True","InvalidSchedule"))}}, "Degraded","InvalidSchedule: spec.schedule.cron: bad"),
   ('suspended', {"spec":{"type":"Schedule","suspend":True}}, "Suspended","Suspended: no new fires"),
 ],
 'TriggerShare':[
   ('healthy', {"status":{"observedGeneration":1,"conditions":conds("True","Granted","0 workspace(s) granted")}}, "Healthy","Granted: 0 workspace(s) granted"),
 ],
 'WorkflowRun':[
   ('pending', {}, "Progressing","Pending"),
   ('accepted', {"status":{"phase":"Accepted","reason":"Accepted"}}, "Progressing","Accepted: Accepted"),
   ('rejected', {"status":{"phase":"Rejected","reason":"SharedWorkflowNotFound"}}, "Degraded","Rejected: SharedWorkflowNotFound"),
   ('succeeded', {"status":{"phase":"Succeeded"}}, "Healthy","Succeeded"),
 ],
}
share_kinds={'WorkflowShare','ProjectShare','TriggerShare'}
import yaml
for kind, tests in cases.items():
    d=os.path.join(root,kind); os.makedirs(os.path.join(d,'testdata'),exist_ok=True)
    body=CORE_HEAD.format(kind=kind)+EARLY.get(kind,'')
    if kind not in ('SharedWorkflow','WorkflowRun'):
        body+=CORE_TAIL.format(ready=SHARE_READY if kind in share_kinds else '')
    open(os.path.join(d,'health.lua'),'w').write(body)
    entries=[]
    for name,obj,status,msg in tests:
        o={"apiVersion":"sharing.workflows.dev/v1alpha1","kind":kind,"metadata":obj.get("metadata",meta())}
        for k in ("spec","status"):
            if k in obj: o[k]=obj[k]
        open(os.path.join(d,'testdata',name+'.yaml'),'w').write(yaml.safe_dump(o,sort_keys=False,allow_unicode=True))
        entries.append({"healthStatus":{"status":status,"message":msg},"inputPath":f"testdata/{name}.yaml"})
    open(os.path.join(d,'health_test.yaml'),'w').write(yaml.safe_dump({"tests":entries},sort_keys=False,allow_unicode=True))
print("ok")
