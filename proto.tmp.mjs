import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
const f = process.argv[2];
const norm = process.argv[3] ?? 'pm1';
const S = 256;
const s = await ort.InferenceSession.create('/tmp/bf/package/ONNX/face_detection_back_256x256_barracuda.onnx', {logSeverityLevel:3});
const meta = await sharp(f).metadata();
const scale = S / Math.max(meta.width, meta.height);
const { data, info } = await sharp(f).resize(S, S, { fit: 'contain', background: {r:0,g:0,b:0}, position: 'left top' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
const x = new Float32Array(S*S*3);
for (let i=0;i<x.length;i++) x[i] = norm==='pm1' ? data[i]/127.5-1 : data[i]/255;
const out = await s.run({ 'input:0': new ort.Tensor('float32', x, [1,S,S,3]) });
const dets=[];
for (const [si, bi, cells, na] of [['Identity:0','Identity_2:0',16,2],['Identity_1:0','Identity_3:0',8,6]]) {
  const sc = out[si].data, bx = out[bi].data;
  for (let cy=0;cy<cells;cy++) for (let cx=0;cx<cells;cx++) for (let a=0;a<na;a++) {
    const k = (cy*cells+cx)*na+a;
    const score = 1/(1+Math.exp(-sc[k]));
    if (score<0.5) continue;
    const ax=(cx+0.5)/cells, ay=(cy+0.5)/cells;
    const b = bx.subarray(k*16,k*16+16);
    const cxp=(ax+b[0]/S)*S/scale, cyp=(ay+b[1]/S)*S/scale;
    dets.push({score:score.toFixed(3), c:[cxp|0,cyp|0], wh:[(b[2]/scale)|0,(b[3]/scale)|0], kp:[0,1,2,3,4,5].map(j=>[((ax+b[4+2*j]/S)*S/scale)|0,((ay+b[5+2*j]/S)*S/scale)|0])});
  }
}
dets.sort((a,b)=>b.score-a.score);
console.log(f, meta.width, meta.height, dets.length); for (const d of dets.slice(0,8)) console.log(JSON.stringify(d));
