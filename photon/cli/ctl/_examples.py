"""The examples each photonctl command's help ends with (`photonctl tasks list -h`)."""

from __future__ import annotations

EXAMPLES: dict[str, tuple[str, ...]] = {
    "join-token create": (
        "photonctl join-token create --labels kind=cloud,region=eu --ttl 1h --uses 3",
        "photonctl join-token create -o yaml",
    ),
    "join-token list": ("photonctl join-token list", "photonctl join-token list -o json"),
    "join-token revoke": ("photonctl join-token revoke 01J...",),
    "agents list": (
        "photonctl agents list",
        "photonctl agents list -o wide",
        "photonctl agents list --watch",
    ),
    "agents show": ("photonctl agents show laptop", "photonctl agents show laptop -o json"),
    "agents drain": ("photonctl agents drain laptop",),
    "agents undrain": ("photonctl agents undrain laptop",),
    "agents remove": ("photonctl agents remove build-1",),
    "run": (
        "photonctl run echo --input message=hi",
        'photonctl run shell --input \'argv:=["uname","-a"]\' --selector kind=local',
        "photonctl run claude-code --input prompt='fix the tests' --timeout 30m --detach",
        "photonctl run shell --env TOKEN=secret:deploy-token --input 'argv:=[\"./deploy\"]'",
    ),
    "workflow run": (
        "photonctl workflow run pipeline.yaml --input branch=main",
        "photonctl workflow run pipeline.yaml --detach",
    ),
    "workflow list": ("photonctl workflow list --limit 5", "photonctl workflow list -w"),
    "workflow show": ("photonctl workflow show 01J...",),
    "workflow cancel": ("photonctl workflow cancel 01J...",),
    "tasks list": (
        "photonctl tasks list --state failed --since 1h",
        "photonctl tasks list --tool claude-code --agent laptop -o wide",
        "photonctl tasks list --label team=web --label env=prod -o json",
        "photonctl tasks list --watch",
    ),
    "tasks show": ("photonctl tasks show 01J...", "photonctl tasks show 01J... -o yaml"),
    "tasks logs": ("photonctl tasks logs 01J...", "photonctl tasks logs -f 01J..."),
    "tasks cancel": ("photonctl tasks cancel 01J...",),
    "tasks diff": ("photonctl tasks diff 01J... | git apply",),
    "report cost": (
        "photonctl report cost --since 30d --by agent",
        "photonctl report cost --by day -o csv > cost.csv",
    ),
    "user create": ("photonctl user create ci --role operator",),
    "user list": ("photonctl user list",),
    "user token": ("PHOTON_TOKEN=$(photonctl user token ci --ttl 10m)",),
    "user delete": ("photonctl user delete ci",),
    "secret set": (
        "photonctl secret set deploy-token < token.txt",
        "photonctl secret set deploy-token --from-env DEPLOY_TOKEN",
    ),
    "secret list": ("photonctl secret list",),
    "secret delete": ("photonctl secret delete deploy-token",),
    "audit list": ("photonctl audit list --since 1h --action admin.",),
    "audit verify": ("photonctl audit verify",),
    "context list": ("photonctl context list",),
    "context use": ("photonctl context use prod",),
    "context add": (
        "photonctl context add prod --api hub.example.com:7444 --ca-file ca.pem --use < key.txt",
    ),
    "context delete": ("photonctl context delete prod",),
    "completion": (
        "photonctl completion bash > ~/.local/share/bash-completion/completions/photonctl",
        "photonctl completion zsh > ~/.zfunc/_photonctl",
    ),
    "dashboard": ("photonctl dashboard", "photonctl dashboard --print-url"),
    "top": ("photonctl top", "photonctl top | head -20"),
}
