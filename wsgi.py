from codes import create_app

app = create_app()
