#!/usr/bin/env python3
"""PyTorch peer of `gsa4j bench`: the same GSA language model in plain PyTorch, written from
docs/MATH.md (#gsa-layer, #the-gsa-operator, #chunk-form, #the-block-skeleton), with two token-mixing operators:

  naive  -- the exact recurrence of docs/MATH.md#the-gsa-operator, one token at a time (the reference library's only
            CPU path), differentiated by autograd;
  chunk  -- the chunkwise-parallel form of docs/MATH.md#chunk-form (chunk C=64: inter-chunk state products plus
            causal intra-chunk matrix products), differentiated by autograd. Intra-chunk decay
            ratios A_t/A_j are formed as exp(G_t) * exp(-G_j) over the whole chunk (no 16-token
            sub-block reference points as in the Triton kernels): exact for the bench's gates
            (|G| stays far below float32's exp range over 64 tokens), not for extreme decays.

It loads config.json and model.safetensors as written by gsa4j (F32), and the token batch from a
JSON file. It is driven over stdin/stdout by the Java bench, one JSON object per line:
  loss MODE          -> {"loss": L}          (no update)
  time MODE N        -> {"times": [s, ...]}  (N training steps: forward, backward, AdamW)
  quit
A training step here is what the Java side times: forward, loss, backward, AdamW update.
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import time

import torch
import torch.nn.functional as F

CHUNK = 64


def load_safetensors(path):
    with open(path, "rb") as fh:
        data = fh.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            raise SystemExit(f"gsa_peer: {name}: only F32 weights are supported, found {e['dtype']}")
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + b:base + end]), dtype=torch.float32)
        out[name] = t.reshape(e["shape"]).clone()
    return out


def rms_norm(x, w, eps):
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y * w if w is not None else y


def gsa_naive(q, k, v, s, g):
    """docs/MATH.md#the-gsa-operator, [B,T,H,*] inputs, scale 1: one step per token."""
    B, T, H, K = q.shape
    M, V = s.shape[-1], v.shape[-1]
    hk = q.new_zeros(B, H, K, M)
    hv = q.new_zeros(B, H, M, V)
    alpha = g.exp()
    outs = []
    for t in range(T):
        a_t = alpha[:, t]                                    # [B,H,M]
        hk = hk * a_t.unsqueeze(2) + k[:, t].unsqueeze(-1) * s[:, t].unsqueeze(2)
        p = torch.softmax(torch.einsum("bhk,bhkm->bhm", q[:, t], hk), dim=-1)
        hv = hv * a_t.unsqueeze(-1) + s[:, t].unsqueeze(-1) * v[:, t].unsqueeze(2)
        outs.append(torch.einsum("bhm,bhmv->bhv", p, hv))
    return torch.stack(outs, dim=1)


def gsa_chunk(q, k, v, s, g):
    """docs/MATH.md#chunk-form: per chunk, pass 1 (K-pass) -> softmax -> pass 2 (V-pass); states carried between chunks."""
    B, T, H, K = q.shape
    M, V = s.shape[-1], v.shape[-1]
    q, k, v, s, g = (x.transpose(1, 2) for x in (q, k, v, s, g))  # [B,H,T,*]
    hk = q.new_zeros(B, H, K, M)
    hv = q.new_zeros(B, H, M, V)
    outs = []
    for c0 in range(0, T, CHUNK):
        c1 = min(T, c0 + CHUNK)
        qc, kc, vc, sc, gc = q[:, :, c0:c1], k[:, :, c0:c1], v[:, :, c0:c1], s[:, :, c0:c1], g[:, :, c0:c1]
        C = c1 - c0
        mask = torch.ones(C, C, dtype=torch.bool).tril()
        G = gc.cumsum(dim=2)                                  # inclusive chunk-local log decay
        Glast = G[:, :, -1:, :]                               # [B,H,1,M]
        eG, sw = G.exp(), sc * (-G).exp()                     # A_t, s_j / A_j
        swl = sc * (Glast - G).exp()                          # s_j * Lambda / A_j
        # pass 1: a_t = (q_t Hk) * A_t + sum_{j<=t} (q_t.k_j) s_j A_t/A_j
        S = (qc @ kc.transpose(-1, -2)).masked_fill(~mask, 0.0)
        a = (qc @ hk) * eG + (S @ sw) * eG
        hk = hk * Glast.exp() + kc.transpose(-1, -2) @ swl
        p = torch.softmax(a, dim=-1)
        # pass 2: o_t = (P_t*A_t) Hv + sum_{j<=t} [sum_m P_tm A_tm s_jm / A_jm] v_j
        pe = p * eG
        Att = (pe @ sw.transpose(-1, -2)).masked_fill(~mask, 0.0)
        outs.append(pe @ hv + Att @ vc)
        hv = hv * Glast.transpose(-1, -2).exp() + swl.transpose(-1, -2) @ vc
    return torch.cat(outs, dim=2).transpose(1, 2)             # [B,T,H,V]


class GsaLM:
    def __init__(self, cfg, weights):
        self.cfg = cfg
        self.d = cfg["hidden_size"]
        self.H = cfg.get("num_heads", 4)
        if cfg.get("num_kv_heads") not in (None, self.H):
            raise SystemExit("gsa_peer: num_kv_heads != num_heads is not implemented")
        if cfg.get("use_short_conv", False) or cfg.get("feature_map", "swish") != "swish":
            raise SystemExit("gsa_peer: only swish feature map without short conv is implemented")
        self.M = cfg.get("num_slots") or 64
        self.L = cfg["num_hidden_layers"]
        self.tau = cfg.get("gate_logit_normalizer", 8)
        self.eps = cfg.get("norm_eps", 1e-6)
        self.tied = cfg.get("tie_word_embeddings", False)
        self.p = {n: t.requires_grad_(True) for n, t in weights.items()}

    def w(self, name):
        return self.p[name]

    def layer(self, i, x, op):
        pre = f"model.layers.{i}.attn."
        B, T, _ = x.shape
        H, M = self.H, self.M
        q = F.silu(x @ self.w(pre + "q_proj.weight").t()).reshape(B, T, H, -1)
        k = F.silu(x @ self.w(pre + "k_proj.weight").t()).reshape(B, T, H, -1)
        v = F.silu(x @ self.w(pre + "v_proj.weight").t()).reshape(B, T, H, -1)
        f = (x @ self.w(pre + "f_proj.weight").t()).reshape(B, T, H, M)
        g = F.logsigmoid(f) / self.tau
        s = 1 - g.exp()
        o = op(q, k, v, s, g).reshape(B, T, -1)
        o = rms_norm(F.silu(o), self.p.get(pre + "g_norm.weight"), 1e-5)
        return o @ self.w(pre + "o_proj.weight").t()

    def loss(self, ids, op):
        x = self.w("model.embeddings.weight")[ids]
        for i in range(self.L):
            pre = f"model.layers.{i}."
            x = x + self.layer(i, rms_norm(x, self.w(pre + "attn_norm.weight"), self.eps), op)
            h = rms_norm(x, self.w(pre + "mlp_norm.weight"), self.eps)
            up = F.silu(h @ self.w(pre + "mlp.gate_proj.weight").t()) * (h @ self.w(pre + "mlp.up_proj.weight").t())
            x = x + up @ self.w(pre + "mlp.down_proj.weight").t()
        x = rms_norm(x, self.w("model.norm.weight"), self.eps)
        head = self.w("model.embeddings.weight") if self.tied else self.w("lm_head.weight")
        logits = x @ head.t()
        V = logits.shape[-1]
        return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))


def blas_in_use():
    libs = set()
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                m = re.search(r"(/\S*lib(?:open)?blas\S*\.so\S*)", line)
                if m:
                    libs.add(os.path.realpath(m.group(1)))
    except OSError:
        pass
    cfg = torch.__config__.show()
    info = re.findall(r"BLAS_INFO=(\w+)", cfg)
    return {"blas_info": info[0] if info else "unknown", "libraries": sorted(libs),
            "mkldnn": torch.backends.mkldnn.is_available()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--lr", type=float, default=1e-4)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model, "config.json")) as fh:
        cfg = json.load(fh)
    batch = json.load(open(args.ids))
    ids = torch.tensor(batch["ids"], dtype=torch.long).reshape(batch["batch"], batch["seq_len"])
    weights = load_safetensors(os.path.join(args.model, "model.safetensors"))
    models = {}
    opts = {}
    for mode in ("naive", "chunk"):
        m = GsaLM(cfg, {n: t.clone() for n, t in weights.items()})
        models[mode] = m
        opts[mode] = torch.optim.AdamW(list(m.p.values()), lr=args.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    ops = {"naive": gsa_naive, "chunk": gsa_chunk}
    print(json.dumps({"event": "ready", "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "blas": blas_in_use(), "params": sum(t.numel() for t in weights.values())}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            break
        mode = cmd[1]
        m, opt = models[mode], opts[mode]
        if cmd[0] == "loss":
            with torch.no_grad():
                out = {"loss": m.loss(ids, ops[mode]).item()}
        elif cmd[0] == "time":
            times = []
            for _ in range(int(cmd[2])):
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                loss = m.loss(ids, ops[mode])
                loss.backward()
                opt.step()
                times.append(time.perf_counter() - t0)
            out = {"times": times, "loss": loss.item()}
        else:
            out = {"error": "unknown command " + cmd[0]}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
