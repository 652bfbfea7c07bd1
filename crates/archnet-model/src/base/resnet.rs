//! ResNets (He et al. 2016) at the standard depths, with a small-image stem.
//!
//! The stem is one 3×3 convolution (stride 1) without max-pooling, as is usual for 32×32
//! CIFAR-10 images (the ImageNet 7×7/2 stem and pool would shrink them to 8×8 at once). The paper
//! names a "ResNet151" for CIFAR-10; there is no such depth, so archnet offers 152 and the usual
//! smaller ones.

use archnet_kernels::conv;
use archnet_kernels::norm::{self, After};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

/// The standard ResNet depths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResNetDepth {
    /// ResNet-18 (basic blocks).
    R18,
    /// ResNet-34 (basic blocks).
    R34,
    /// ResNet-50 (bottleneck blocks).
    R50,
    /// ResNet-101 (bottleneck blocks).
    R101,
    /// ResNet-152 (bottleneck blocks).
    R152,
}

impl ResNetDepth {
    /// Parses `resnet18` … `resnet152`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "resnet18" => ResNetDepth::R18,
            "resnet34" => ResNetDepth::R34,
            "resnet50" => ResNetDepth::R50,
            "resnet101" => ResNetDepth::R101,
            "resnet152" => ResNetDepth::R152,
            _ => return None,
        })
    }

    /// Blocks per stage and whether blocks are bottlenecks (expansion 4).
    fn layout(self) -> ([usize; 4], bool) {
        match self {
            ResNetDepth::R18 => ([2, 2, 2, 2], false),
            ResNetDepth::R34 => ([3, 4, 6, 3], false),
            ResNetDepth::R50 => ([3, 4, 6, 3], true),
            ResNetDepth::R101 => ([3, 4, 23, 3], true),
            ResNetDepth::R152 => ([3, 8, 36, 3], true),
        }
    }
}

fn conv(cin: usize, cout: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([cin, cout], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// A 1×1 (strided) convolution with batch norm that matches the shortcut to the block's output.
#[derive(Module, Debug)]
struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

/// A residual block: basic (two 3×3) or bottleneck (1×1, 3×3, 1×1 with 4× expansion).
#[derive(Module, Debug)]
struct Block {
    convs: Vec<Conv2d>,
    norms: Vec<BatchNorm>,
    downsample: Option<Downsample>,
}

impl Block {
    fn init(
        cin: usize,
        width: usize,
        stride: usize,
        bottleneck: bool,
        device: &Device,
    ) -> (Self, usize) {
        let (convs, cout) = if bottleneck {
            let cout = width * 4;
            (
                vec![
                    conv(cin, width, 1, 1, device),
                    conv(width, width, 3, stride, device),
                    conv(width, cout, 1, 1, device),
                ],
                cout,
            )
        } else {
            (
                vec![
                    conv(cin, width, 3, stride, device),
                    conv(width, width, 3, 1, device),
                ],
                width,
            )
        };
        let norms = convs
            .iter()
            .map(|c| BatchNormConfig::new(c.weight.dims()[0]).init(device))
            .collect();
        let downsample = (stride != 1 || cin != cout).then(|| Downsample {
            conv: conv(cin, cout, 1, stride, device),
            bn: BatchNormConfig::new(cout).init(device),
        });
        (
            Block {
                convs,
                norms,
                downsample,
            },
            cout,
        )
    }

    /// Each batch norm runs fused with the ReLU after it, the last one with the shortcut's sum
    /// and the block's ReLU too ([`norm::forward`]).
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match &self.downsample {
            Some(d) => norm::forward(&d.bn, conv::forward(&d.conv, x.clone()), After::Nothing),
            None => x.clone(),
        };
        let last = self.convs.len() - 1;
        let mut y = x;
        for (i, (c, n)) in self.convs.iter().zip(&self.norms).enumerate() {
            let after = if i == last {
                After::AddRelu(Box::new(shortcut.clone()))
            } else {
                After::Relu
            };
            y = norm::forward(n, conv::forward(c, y), after);
        }
        y
    }
}

/// A ResNet: 3×3 stem (64 channels), four stages (64, 128, 256, 512 wide; stride 2 from the
/// second on), global average pooling and a linear classifier.
#[derive(Module, Debug)]
pub struct ResNet {
    stem: Conv2d,
    stem_bn: BatchNorm,
    blocks: Vec<Block>,
    pool: AdaptiveAvgPool2d,
    fc: Linear,
}

impl ResNet {
    /// A freshly initialised ResNet of `depth` for `channels` input channels.
    pub fn init(depth: ResNetDepth, channels: usize, classes: usize, device: &Device) -> Self {
        let (counts, bottleneck) = depth.layout();
        let mut blocks = Vec::new();
        let mut cin = 64;
        for (stage, (&count, width)) in counts.iter().zip([64, 128, 256, 512]).enumerate() {
            for i in 0..count {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let (block, cout) = Block::init(cin, width, stride, bottleneck, device);
                blocks.push(block);
                cin = cout;
            }
        }
        ResNet {
            stem: conv(channels, 64, 3, 1, device),
            stem_bn: BatchNormConfig::new(64).init(device),
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(cin, classes).init(device),
        }
    }

    /// `[N, C, H, W]` → logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = norm::forward(&self.stem_bn, conv::forward(&self.stem, x), After::Relu);
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.fc.forward(self.pool.forward(x).flatten::<2>(1, 3))
    }
}
