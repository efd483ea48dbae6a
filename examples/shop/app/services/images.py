from PIL import Image


def resize_image(path: str, size: int = 512) -> None:
    with Image.open(path) as img:
        img.thumbnail((size, size))
        img.save(path)
