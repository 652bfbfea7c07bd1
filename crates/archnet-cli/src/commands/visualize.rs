//! `archnet visualize`: what the encryption looks like (the paper's Fig. 8/9).

use archnet_figures::{Row, Tile, image_grid};
use archnet_model::{KeyFile, device};
use burn::prelude::*;

use crate::cli::VisualizeArgs;

/// `archnet visualize`
pub fn run(args: &VisualizeArgs) -> anyhow::Result<()> {
    let (key, meta) = KeyFile::load(&args.key, &device())?;
    let data = super::data::load(&args.data)?;
    if data.shape != meta.architecture.plain_shape {
        anyhow::bail!(
            "{}: the key takes {:?} images but the data is {:?}",
            args.data.data.display(),
            meta.architecture.plain_shape,
            data.shape
        );
    }
    let n = args.count.min(data.len()).max(1);
    let indices: Vec<usize> = (0..n).collect();
    let [c, h, w] = data.shape;
    let plain = data.batch_f32(&indices);
    let x = Tensor::<4>::from_data(TensorData::new(plain.clone(), [n, c, h, w]), &device());
    let cipher = key.encrypt(x);
    let [_, cc, ch, cw] = cipher.dims();
    let cipher_values = cipher.clone().into_data().try_to_vec::<f32>().expect("f32");
    let recon = meta.architecture.has_decoder().then(|| {
        key.decrypt(cipher)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32")
    });
    let plain_len = c * h * w;
    let cipher_len = cc * ch * cw;
    let plane = ch * cw;
    let images = |values: &[f32]| -> Vec<Tile> {
        (0..n)
            .map(|i| Tile {
                shape: [c, h, w],
                values: values[i * plain_len..(i + 1) * plain_len].to_vec(),
                range: Some((0.0, 1.0)),
            })
            .collect()
    };
    let channel = |k: usize| -> Vec<Tile> {
        (0..n)
            .map(|i| {
                let start = i * cipher_len + k * plane;
                Tile {
                    shape: [1, ch, cw],
                    values: cipher_values[start..start + plane].to_vec(),
                    range: None,
                }
            })
            .collect()
    };
    let mut rows = vec![Row {
        label: "original".into(),
        tiles: images(&plain),
    }];
    for k in 0..cc.min(3) {
        rows.push(Row {
            label: format!("E1(x) channel {k}"),
            tiles: channel(k),
        });
    }
    if cc >= 3 {
        // The paper's view: three dimensions of the ciphertext shown as one colour image.
        let tiles = (0..n)
            .map(|i| Tile {
                shape: [3, ch, cw],
                values: cipher_values[i * cipher_len..i * cipher_len + 3 * plane].to_vec(),
                range: None,
            })
            .collect();
        rows.push(Row {
            label: "E1(x) ch. 0-2 as RGB".into(),
            tiles,
        });
    }
    if let Some(recon) = &recon {
        rows.push(Row {
            label: "D1(E1(x))".into(),
            tiles: images(recon),
        });
    }
    std::fs::create_dir_all(&args.out)?;
    let path = args.out.join("encryption-grid.png");
    let title = format!(
        "key {} ({}): {}x{}x{} images -> {}x{}x{} ciphertexts (channels min-max scaled)",
        meta.key_id, meta.architecture.preset, c, h, w, cc, ch, cw
    );
    let zoom = if ch >= 64 { 2 } else { 3 };
    image_grid(&path, &title, &rows, zoom)?;
    println!("written: {}", path.display());
    Ok(())
}
