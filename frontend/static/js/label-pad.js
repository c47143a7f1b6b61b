// The valence-arousal pad: a 2-D target for mouse, pen or finger, and arrow keys; values in [-1, 1] on both axes.

const clamp = (v) => Math.max(-1, Math.min(1, v));
const point = (valence, arousal) => ({ valence: Math.round(clamp(valence) * 100) / 100, arousal: Math.round(clamp(arousal) * 100) / 100 });

export class ValenceArousalPad {
  constructor({ pad, dot, readout }) {
    this.pad = pad;
    this.dot = dot;
    this.readout = readout;
    this.value = null;
    pad.addEventListener("pointerdown", (event) => {
      pad.setPointerCapture(event.pointerId);
      this.pick(event);
    });
    pad.addEventListener("pointermove", (event) => { if (event.buttons) this.pick(event); });
  }

  pick(event) {
    const box = this.pad.getBoundingClientRect();
    this.set(point(((event.clientX - box.left) / box.width) * 2 - 1, 1 - ((event.clientY - box.top) / box.height) * 2));
    event.preventDefault();
  }

  // An arrow key moves the point from where it is (from the centre, neutral and calm-excited midway, if unset).
  nudge(dValence, dArousal) {
    const { valence, arousal } = this.value ?? { valence: 0, arousal: 0 };
    this.set(point(valence + dValence, arousal + dArousal));
  }

  set(value) {
    this.value = value;
    this.dot.hidden = value === null;
    if (value) {
      this.dot.style.left = `${((value.valence + 1) / 2) * 100}%`;
      this.dot.style.top = `${((1 - value.arousal) / 2) * 100}%`;
      this.readout.textContent = `valence ${value.valence.toFixed(2)} · arousal ${value.arousal.toFixed(2)}`;
    } else {
      this.readout.textContent = "Tap the pad or use the arrow keys for valence and arousal (optional)";
    }
  }

  clear() { this.set(null); }
}
