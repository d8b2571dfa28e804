#!/usr/bin/env bash
# Screenshots of the built site in headless Chromium (Debian's `chromium`), with every network
# request refused (a dead proxy), so math and figures must render from the site's own files.
# Usage: sphinx-build -W --keep-going docs docs/_build/html && bash docs/_screenshots/take.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
html="$PWD/docs/_build/html"
shot() {  # name page height
    chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
        --disable-sync --no-first-run --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
        --hide-scrollbars --window-size="1280,$3" --virtual-time-budget=10000 \
        --screenshot="/tmp/wzshot-$1.png" "file://$html/$2" 2>/dev/null
}
shot home index.html 1400
shot theory-santa_fe theory/santa_fe.html 1400
shot results-truncation results/truncation.html 5200
python - <<'PY'
from PIL import Image
crops = {"home": None, "theory-santa_fe": None, "results-truncation": (0, 0, 1280, 1400),
         "results-kept-runs": (380, 2380, 1280, 3800)}
for name, box in crops.items():
    src = "results-truncation" if name.startswith("results") else name
    im = Image.open(f"/tmp/wzshot-{src}.png").convert("RGB")
    im = im.crop(box) if box else im
    im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
    im.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(f"docs/_screenshots/{name}.png", optimize=True)
PY
ls -l docs/_screenshots/*.png
